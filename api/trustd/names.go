package trustd

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// callerIP is the address the request came from (the TCP peer trustd sees), which is the
// only name a certificate may carry. A caller at an address kilnctl could use to reach
// the control plane itself (loopback, unspecified, multicast, or one of OwnAddrs) gets
// PermissionDenied: a certificate for it would let its holder pose as the control plane.
func (s *Signer) callerIP(ctx context.Context) (net.IP, error) {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return nil, status.Error(codes.PermissionDenied, "the request has no peer address to bind a certificate to")
	}
	ap, err := netip.ParseAddrPort(p.Addr.String())
	if err != nil {
		return nil, status.Errorf(codes.PermissionDenied, "peer address %q is not an IP address and port", p.Addr)
	}
	addr := ap.Addr().Unmap().WithZone("")
	if addr.IsLoopback() || addr.IsUnspecified() || addr.IsMulticast() {
		return nil, status.Errorf(codes.PermissionDenied, "no certificate for %s: a loopback, unspecified or multicast address names no other node", addr)
	}
	if s.OwnAddrs == nil {
		return net.IP(addr.AsSlice()), nil
	}
	own, err := s.OwnAddrs()
	if err != nil {
		return nil, status.Errorf(codes.Internal, "list the control plane's addresses: %v", err)
	}
	if slices.ContainsFunc(own, func(ip net.IP) bool { return ip.Equal(net.IP(addr.AsSlice())) }) {
		return nil, status.Errorf(codes.PermissionDenied, "no certificate for %s: it is the control plane's own address", addr)
	}
	return net.IP(addr.AsSlice()), nil
}

// onlyNames checks that csr asks for no name but caller: no DNS name, URI or email
// address, and no IP address but caller's. A CSR with no names at all is fine: the
// certificate names the caller either way. The error names the first offending name.
func onlyNames(csr *x509.CertificateRequest, caller net.IP) error {
	const why = "trustd certifies only the address the request comes from, %s"
	if len(csr.DNSNames) > 0 {
		return fmt.Errorf("CSR asks for DNS name %q: "+why, csr.DNSNames[0], caller)
	}
	for _, ip := range csr.IPAddresses {
		if !ip.Equal(caller) {
			return fmt.Errorf("CSR asks for IP address %s: "+why, ip, caller)
		}
	}
	if len(csr.URIs) > 0 {
		return fmt.Errorf("CSR asks for URI %q: "+why, csr.URIs[0], caller)
	}
	if len(csr.EmailAddresses) > 0 {
		return fmt.Errorf("CSR asks for email address %q: "+why, csr.EmailAddresses[0], caller)
	}
	return nil
}
