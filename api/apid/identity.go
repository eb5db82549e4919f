package apid

import (
	"context"
	"crypto/x509"
	"net"
	"strconv"
	"strings"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/kiln-os/kiln/api/rbac"
)

// Outgoing metadata keys apid sets on every call it forwards to machined. apid sends no
// other metadata: what the client sent stays at the edge, so a client cannot claim an
// identity by sending these keys itself.
const (
	MetadataCallerCN    = "x-kiln-caller-cn"
	MetadataCallerRoles = "x-kiln-caller-roles" // comma-separated; empty in maintenance mode
)

// caller is who made a call, as the TLS handshake proved it.
type caller struct {
	cn     string
	serial string // hex; empty without a certificate
	roles  []rbac.Role
	// bucket keys the rate limiter: the certificate serial, or the remote IP without one.
	bucket string
}

// callerFrom reads the verified client certificate from the connection. Without one (in
// maintenance mode), the caller is known only by its address.
func callerFrom(ctx context.Context) caller {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return caller{bucket: "unknown"}
	}
	if cert := verifiedLeaf(p); cert != nil {
		serial := cert.SerialNumber.Text(16)
		return caller{cn: cert.Subject.CommonName, serial: serial, roles: rbac.Roles(cert), bucket: "serial:" + serial}
	}
	host, _, err := net.SplitHostPort(p.Addr.String())
	if err != nil {
		host = p.Addr.String()
	}
	return caller{bucket: "addr:" + host}
}

// verifiedLeaf returns the client certificate only if the handshake verified it.
func verifiedLeaf(p *peer.Peer) *x509.Certificate {
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return nil
	}
	return info.State.VerifiedChains[0][0]
}

// streamKey is who the stream budget counts against: the certificate's common name, as
// machined counts (MetadataCallerCN), so that several certificates for one name share
// one budget as they do there; without a certificate, the remote address.
func (c caller) streamKey() string {
	if c.serial != "" {
		return "caller " + strconv.Quote(c.cn)
	}
	return "client " + strings.TrimPrefix(c.bucket, "addr:")
}

func (c caller) roleNames() string {
	names := make([]string, len(c.roles))
	for i, r := range c.roles {
		names[i] = string(r)
	}
	return strings.Join(names, ",")
}

type callerKey struct{}

func withCaller(ctx context.Context, c caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// outgoing returns ctx with the caller's identity as the only outgoing metadata.
func outgoing(ctx context.Context) context.Context {
	c, _ := ctx.Value(callerKey{}).(caller)
	return metadata.NewOutgoingContext(ctx, metadata.Pairs(
		MetadataCallerCN, c.cn,
		MetadataCallerRoles, c.roleNames(),
	))
}
