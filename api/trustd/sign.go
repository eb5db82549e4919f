package trustd

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/security"
)

// Validity is how long an issued certificate is valid.
const Validity = 365 * 24 * time.Hour

// Signer implements SecurityService: it signs CSRs presented with the join token, for
// the caller's address only.
type Signer struct {
	security.UnimplementedSecurityServiceServer

	CA    *x509.Certificate
	CAKey crypto.Signer
	// Token is the cluster join token; an empty Token (and no TokenFile) refuses every
	// request.
	Token string
	// TokenFile, when set, holds the join token instead of Token. It is read at every
	// request, so a token changed by apply-config takes effect with no restart: the old
	// one is refused from the next request on.
	TokenFile string
	// OwnAddrs lists the control plane's own addresses: its interfaces' and the IP names
	// of its serving certificate (so its certSANs). A caller at one of them gets nothing.
	// Nil means none besides loopback, which is always refused.
	OwnAddrs func() ([]net.IP, error)
	// Now is the clock issued certificates start at, and the clock of the guess budget.
	Now func() time.Time

	guesses guessBudget
}

// Certificate checks the token, then the caller's address, then the CSR, and returns a
// server certificate for the CSR's key whose only name is the address the request came
// from (see the package doc: names are bound to the caller).
func (s *Signer) Certificate(ctx context.Context, req *security.CertificateRequest) (*security.CertificateResponse, error) {
	source := sourceOf(ctx)
	if !s.guesses.take(source, s.Now()) {
		return nil, status.Errorf(codes.ResourceExhausted, "join token not checked: %s (or too many addresses at once) sent %d wrong tokens within %s; "+
			"wait that long, then use the token from the cluster's machine config", source, GuessLimit, GuessWindow)
	}
	token, err := s.token()
	if err != nil {
		return nil, status.Errorf(codes.Internal, "join token: %v", err)
	}
	if !tokenMatches(token, req.Token) {
		return nil, status.Error(codes.PermissionDenied, "join token does not match: use the token from the cluster's machine config")
	}
	s.guesses.refund(source)
	caller, err := s.callerIP(ctx)
	if err != nil {
		return nil, err
	}
	csr, err := ParseCSR(req.CsrPem)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if err := onlyNames(csr, caller); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	der, err := s.issue(csr, caller)
	if err != nil {
		return nil, status.Error(codes.Internal, fmt.Sprintf("sign certificate: %v", err))
	}
	return &security.CertificateResponse{
		CertificatePem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		CaPem:          pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.CA.Raw}),
	}, nil
}

// token is the join token in force: TokenFile's content when set, else Token.
func (s *Signer) token() (string, error) {
	if s.TokenFile == "" {
		return s.Token, nil
	}
	data, err := os.ReadFile(s.TokenFile)
	if err != nil {
		return "", err
	}
	return string(bytes.TrimSpace(data)), nil
}

// tokenMatches compares in constant time so the answer's timing tells nothing about how
// much of a guess was right. An empty token in force matches nothing.
func tokenMatches(want, got string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// ParseCSR decodes one PEM "CERTIFICATE REQUEST" and checks its self-signature, which
// proves the requester holds the private key.
func ParseCSR(data []byte) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("csr_pem holds no PEM CERTIFICATE REQUEST block")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse CSR: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("CSR signature: %w", err)
	}
	return csr, nil
}

// issue signs a server certificate for caller, and for nothing else: the request's
// common name, names and Organization (which would grant an API role, api/rbac) are not
// copied.
func (s *Signer) issue(csr *x509.CertificateRequest, caller net.IP) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := s.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: caller.String()},
		IPAddresses:           []net.IP{caller},
		NotBefore:             now,
		NotAfter:              now.Add(Validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	return x509.CreateCertificate(rand.Reader, tmpl, s.CA, csr.PublicKey, s.CAKey)
}
