// Package trustd is the node's certificate authority service: SecurityService on :50001,
// over TLS with the node's server certificate and no client certificate (a joining node
// has none yet). A node that presents the cluster join token gets its CSR signed by the
// OS CA as a server certificate: ExtKeyUsage serverAuth only and no Organization, so it
// carries no API role and cannot call apid as a client.
//
// Names are bound to the caller. The join token proves membership, not a name, so the
// certificate names exactly the IP address the request arrives from (the TCP peer trustd
// sees), and nothing else: its only SAN is that address and its common name is that
// address written out. A CSR may name that address or nothing; a CSR that asks for any
// DNS name, any other IP address, a URI or an email address is refused with
// InvalidArgument naming the offending name. A caller whose address is loopback,
// unspecified or multicast, or one of the control plane's own (Signer.OwnAddrs: its
// interfaces' addresses and the IP names of its serving certificate, which hold its
// certSANs), is refused with PermissionDenied. So no join token yields a certificate
// kilnctl accepts for the control plane, or for any address but the holder's own.
// Consequences: a worker's API certificate names only the address it reaches trustd
// from (no hostname, no localhost); a worker behind NAT gets the NAT's address and should
// reach trustd directly; a certificate outlives a change of address (no revocation), so
// an address that passes to another node stays certified for the old holder until the
// certificate expires (Validity).
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
//	                         are visible in /proc/PID/cmdline); read at every request, so
//	                         a token rotated by apply-config is in force at once
package trustd
