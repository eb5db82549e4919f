// Package trustd is the node's certificate authority service: SecurityService on :50001,
// over TLS with the node's server certificate and no client certificate (a joining node
// has none yet). A node that presents the cluster join token gets its CSR signed by the
// OS CA as a server certificate: ExtKeyUsage serverAuth only and no Organization, so it
// carries no API role and cannot call apid as a client.
//
// trustd signs; it does not store what it issued, touch machine state, or talk to
// machined. The CA key is read once at start and never leaves the process.
//
// Guesses at the join token are rationed per source address (IPv4 address, IPv6 /64):
// GuessLimit (10) wrong tokens per GuessWindow (10 minutes), after which the source gets
// ResourceExhausted, even with the right token, until the window passes. Connections are
// bounded: MaxConns (256) in all, MaxConnsPerSource (8) per source, MaxStreams (4) calls
// at once on one connection, and an idle connection is closed after 30 s.
//
// Main is the entry point for the multi-call binary (`machined trustd ...`). Its flags:
//
//	--listen ADDR            address to listen on (default :50001)
//	--ca FILE, --ca-key FILE OS CA certificate and private key (PEM) that sign CSRs
//	--cert FILE, --key FILE  trustd's own TLS server certificate and key (PEM)
//	--token-file FILE        file holding the cluster join token (not a flag value: flags
//	                         are visible in /proc/PID/cmdline)
package trustd
