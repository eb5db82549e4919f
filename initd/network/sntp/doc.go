// Package sntp is a Simple Network Time Protocol client: the NTP packet (RFC 5905 §7.3),
// one client-mode request and its reply, checked as RFC 4330 §5 asks, and the offset
// and round-trip delay of the clock from the four timestamps.
//
// Supported subset: NTPv4 client mode, the 48-byte header; extension fields and MACs in a
// reply are ignored. Replies are untrusted bytes from the network: Parse accepts any
// input without panicking, and CheckReply refuses a reply that does not answer our
// request (origin timestamp), a kiss-o'-death (stratum 0), an unsynchronized server
// (leap 3) and anything that is not a server reply.
//
// It is a leaf package: it neither sets the clock nor decides when to ask.
package sntp
