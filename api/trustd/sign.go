package trustd

import (
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
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/security"
)

// Validity is how long an issued certificate is valid.
const Validity = 365 * 24 * time.Hour

// Signer implements SecurityService: it signs CSRs presented with Token.
type Signer struct {
	security.UnimplementedSecurityServiceServer

	CA    *x509.Certificate
	CAKey crypto.Signer
	// Token is the cluster join token; an empty Token refuses every request.
	Token string
	// Now is the clock issued certificates start at, and the clock of the guess budget.
	Now func() time.Time

	guesses guessBudget
}

// Certificate checks the token, then the CSR, and returns a certificate for the CSR's key
// and names.
func (s *Signer) Certificate(ctx context.Context, req *security.CertificateRequest) (*security.CertificateResponse, error) {
	source := sourceOf(ctx)
	if !s.guesses.take(source, s.Now()) {
		return nil, status.Errorf(codes.ResourceExhausted, "join token not checked: %s (or too many addresses at once) sent %d wrong tokens within %s; "+
			"wait that long, then use the token from the cluster's machine config", source, GuessLimit, GuessWindow)
	}
	if !s.tokenMatches(req.Token) {
		return nil, status.Error(codes.PermissionDenied, "join token does not match: use the token from the cluster's machine config")
	}
	s.guesses.refund(source)
	csr, err := ParseCSR(req.CsrPem)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	der, err := s.issue(csr)
	if err != nil {
		return nil, status.Error(codes.Internal, fmt.Sprintf("sign certificate: %v", err))
	}
	return &security.CertificateResponse{
		CertificatePem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		CaPem:          pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.CA.Raw}),
	}, nil
}

// tokenMatches compares in constant time so the answer's timing tells nothing about how
// much of a guess was right.
func (s *Signer) tokenMatches(token string) bool {
	return s.Token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.Token)) == 1
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

// issue signs a server certificate. Only the common name and the DNS and IP names are
// taken from the CSR: an Organization would grant an API role (api/rbac), so none is copied.
func (s *Signer) issue(csr *x509.CertificateRequest) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := s.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: csr.Subject.CommonName},
		DNSNames:              csr.DNSNames,
		IPAddresses:           csr.IPAddresses,
		NotBefore:             now,
		NotAfter:              now.Add(Validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	return x509.CreateCertificate(rand.Reader, tmpl, s.CA, csr.PublicKey, s.CAKey)
}
