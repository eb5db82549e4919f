package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"slices"
	"time"
)

// Roles a client certificate carries as its Organization; apid maps each RPC to one.
const (
	RoleAdmin = "os:admin"
	// RoleEtcdBackup may read what a reader reads and take etcd snapshots.
	RoleEtcdBackup = "os:etcd:backup"
	RoleOperator   = "os:operator"
	RoleReader     = "os:reader"
)

// CALifetime is how long a generated CA is valid.
const CALifetime = 10 * 365 * 24 * time.Hour

// clockSkew back-dates every certificate so that a node whose clock runs a little behind
// the machine that issued it still accepts it.
const clockSkew = 5 * time.Minute

// Secrets are what a cluster's configs are generated from.
type Secrets struct {
	// OSCA signs the OS API certificates: apid's server certificate, kilnctl's client
	// certificates and the nodes' certificates that trustd issues.
	OSCA CA
	// KubernetesCA is the Kubernetes cluster CA.
	KubernetesCA CA
	// Token is the join token nodes present to trustd.
	Token string
	// Kubernetes holds the cluster's Kubernetes secrets; nil for a cluster without
	// Kubernetes.
	Kubernetes *KubernetesSecrets
}

// KubernetesSecrets are the secrets of a cluster's Kubernetes beside its CA.
type KubernetesSecrets struct {
	// BootstrapToken is the token kubelets join with (cluster.token).
	BootstrapToken string
	// EtcdCA signs etcd's certificates.
	EtcdCA CA
	// ServiceAccountKey signs service account tokens (PEM).
	ServiceAccountKey string
	// SecretboxSecret encrypts Secrets at rest (32 bytes, base64).
	SecretboxSecret string
}

// GenerateSecrets makes two ECDSA P-256 self-signed CAs valid for CALifetime from now,
// and a random join token.
func GenerateSecrets(now time.Time) (*Secrets, error) {
	osCA, err := newCA("kiln os", now)
	if err != nil {
		return nil, err
	}
	kubernetesCA, err := newCA("kubernetes", now)
	if err != nil {
		return nil, err
	}
	token, err := newToken()
	if err != nil {
		return nil, err
	}
	return &Secrets{OSCA: osCA, KubernetesCA: kubernetesCA, Token: token}, nil
}

// GenerateKubernetesSecrets makes the Kubernetes secrets: a bootstrap token, an etcd CA
// (ECDSA P-256, valid for CALifetime from now), a P-256 service account key and a 32-byte
// secretbox key.
func GenerateKubernetesSecrets(now time.Time) (*KubernetesSecrets, error) {
	token, err := newToken()
	if err != nil {
		return nil, err
	}
	etcdCA, err := newCA("etcd", now)
	if err != nil {
		return nil, err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	saPEM, err := encodeKey(saKey)
	if err != nil {
		return nil, err
	}
	secretbox := make([]byte, 32)
	if _, err := rand.Read(secretbox); err != nil {
		return nil, err
	}
	return &KubernetesSecrets{
		BootstrapToken: token, EtcdCA: etcdCA, ServiceAccountKey: string(saPEM),
		SecretboxSecret: base64.StdEncoding.EncodeToString(secretbox),
	}, nil
}

func newCA(commonName string, now time.Time) (CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return CA{}, err
	}
	template, err := certificateTemplate(commonName, now, CALifetime)
	if err != nil {
		return CA{}, err
	}
	template.IsCA = true
	template.BasicConstraintsValid = true
	template.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, template, template, key.Public(), key)
	if err != nil {
		return CA{}, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return CA{}, err
	}
	return CA{Crt: string(encodeCertificate(der)), Key: string(keyPEM)}, nil
}

// newToken returns [a-z0-9]{6}.[a-z0-9]{16} from crypto/rand (about 103 bits).
func newToken() (string, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	token := make([]byte, 0, 23)
	for i := range 22 {
		if i == 6 {
			token = append(token, '.')
		}
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			return "", err
		}
		token = append(token, alphabet[n.Int64()])
	}
	return string(token), nil
}

// IssueClientCert signs a client certificate for cn with roles as its Organization
// (RoleAdmin, RoleOperator, RoleReader, RoleEtcdBackup) and ClientAuth as its only
// extended key usage.
func IssueClientCert(ca CA, cn string, roles []string, ttl time.Duration, now time.Time) (certPEM, keyPEM []byte, err error) {
	if len(roles) == 0 {
		return nil, nil, errors.New("client certificate needs at least one role")
	}
	for _, role := range roles {
		if !slices.Contains([]string{RoleAdmin, RoleOperator, RoleReader, RoleEtcdBackup}, role) {
			return nil, nil, fmt.Errorf("unknown role %q: use %s, %s, %s or %s", role, RoleAdmin, RoleOperator, RoleReader, RoleEtcdBackup)
		}
	}
	return IssueCertificate(ca, CertRequest{CommonName: cn, Organization: roles, Client: true, TTL: ttl}, now)
}

// IssueServerCert signs a server certificate for cn whose subject alternative names are
// sans (IP addresses and DNS names), with ServerAuth as its only extended key usage.
func IssueServerCert(ca CA, cn string, sans []string, ttl time.Duration, now time.Time) (certPEM, keyPEM []byte, err error) {
	return IssueCertificate(ca, CertRequest{CommonName: cn, SANs: sans, Server: true, TTL: ttl}, now)
}

// CertRequest is what a certificate says: its subject, its names and what it is for.
type CertRequest struct {
	CommonName   string
	Organization []string
	// SANs are IP addresses and DNS names.
	SANs []string
	// Client and Server are its extended key usages (one at least).
	Client, Server bool
	TTL            time.Duration
}

// IssueCertificate signs a leaf certificate for req with ca, on a fresh P-256 key.
func IssueCertificate(ca CA, req CertRequest, now time.Time) (certPEM, keyPEM []byte, err error) {
	if !req.Client && !req.Server {
		return nil, nil, fmt.Errorf("certificate %q: neither client nor server", req.CommonName)
	}
	template, err := certificateTemplate(req.CommonName, now, req.TTL)
	if err != nil {
		return nil, nil, err
	}
	template.Subject.Organization = req.Organization
	for _, san := range req.SANs {
		if ip, err := netip.ParseAddr(san); err == nil {
			template.IPAddresses = append(template.IPAddresses, ip.AsSlice())
			continue
		}
		if !isDNSName(san) {
			return nil, nil, fmt.Errorf("SAN %q is neither an IP address nor a DNS name", san)
		}
		template.DNSNames = append(template.DNSNames, san)
	}
	if req.Server {
		template.ExtKeyUsage = append(template.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if req.Client {
		template.ExtKeyUsage = append(template.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	return issue(ca, template)
}

func certificateTemplate(commonName string, now time.Time, ttl time.Duration) (*x509.Certificate, error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("certificate lifetime %v is not positive", ttl)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     now.Add(ttl),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}, nil
}

// issue makes a fresh P-256 key and signs template with ca.
func issue(ca CA, template *x509.Certificate) (certPEM, keyPEM []byte, err error) {
	caCert, err := parseCertificatePEM(ca.Crt)
	if err != nil {
		return nil, nil, fmt.Errorf("CA certificate: %w", err)
	}
	caKey, err := parsePrivateKeyPEM(ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("CA key: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, template, caCert, key.Public(), caKey)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return encodeCertificate(der), keyPEM, nil
}

func encodeCertificate(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}
