package config

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"slices"
	"testing"
	"time"
)

func parseCertForTest(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatal("no PEM")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGenerateSecrets(t *testing.T) {
	s := secretsForTest(t)
	if !tokenPattern.MatchString(s.Token) {
		t.Errorf("token %q", s.Token)
	}
	for _, ca := range []CA{s.OSCA, s.KubernetesCA} {
		c := parseCertForTest(t, []byte(ca.Crt))
		if !c.IsCA || c.PublicKeyAlgorithm != x509.ECDSA || c.CheckSignatureFrom(c) != nil {
			t.Errorf("%s: not a self-signed ECDSA CA", c.Subject)
		}
		if !c.NotAfter.Equal(testNow.Add(CALifetime)) || c.NotBefore.After(testNow) {
			t.Errorf("%s: valid %v to %v", c.Subject, c.NotBefore, c.NotAfter)
		}
	}
	if s.OSCA.Crt == s.KubernetesCA.Crt {
		t.Error("the two CAs are the same")
	}
}

func TestIssueClientCert(t *testing.T) {
	s := secretsForTest(t)
	certPEM, keyPEM, err := IssueClientCert(s.OSCA, "alice", []string{RoleAdmin}, time.Hour, testNow)
	if err != nil {
		t.Fatal(err)
	}
	c := parseCertForTest(t, certPEM)
	if c.Subject.CommonName != "alice" || !slices.Equal(c.Subject.Organization, []string{"os:admin"}) {
		t.Errorf("subject %v", c.Subject)
	}
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) || c.IsCA {
		t.Errorf("usage %v, CA %v", c.ExtKeyUsage, c.IsCA)
	}
	verify(t, s.OSCA, c, x509.ExtKeyUsageClientAuth, "")
	if _, err := parsePrivateKeyPEM(string(keyPEM)); err != nil {
		t.Error(err)
	}
	if _, _, err := IssueClientCert(s.OSCA, "bob", []string{"os:root"}, time.Hour, testNow); err == nil {
		t.Error("unknown role accepted")
	}
	if _, _, err := IssueClientCert(s.OSCA, "bob", nil, time.Hour, testNow); err == nil {
		t.Error("no role accepted")
	}
	if _, _, err := IssueClientCert(CA{Crt: s.OSCA.Crt}, "bob", []string{RoleReader}, time.Hour, testNow); err == nil {
		t.Error("CA without key accepted")
	}
}

func TestIssueServerCert(t *testing.T) {
	s := secretsForTest(t)
	certPEM, _, err := IssueServerCert(s.OSCA, "node1", []string{"10.0.2.15", "node1.example"}, time.Hour, testNow)
	if err != nil {
		t.Fatal(err)
	}
	c := parseCertForTest(t, certPEM)
	if len(c.Subject.Organization) != 0 || !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("subject %v usage %v", c.Subject, c.ExtKeyUsage)
	}
	if len(c.IPAddresses) != 1 || !c.IPAddresses[0].Equal(net.ParseIP("10.0.2.15")) || !slices.Equal(c.DNSNames, []string{"node1.example"}) {
		t.Errorf("SANs %v %v", c.IPAddresses, c.DNSNames)
	}
	verify(t, s.OSCA, c, x509.ExtKeyUsageServerAuth, "node1.example")
	if _, _, err := IssueServerCert(s.OSCA, "node1", []string{"not a name"}, time.Hour, testNow); err == nil {
		t.Error("bad SAN accepted")
	}
	if _, _, err := IssueServerCert(s.OSCA, "node1", nil, 0, testNow); err == nil {
		t.Error("zero lifetime accepted")
	}
}

func verify(t *testing.T, ca CA, c *x509.Certificate, usage x509.ExtKeyUsage, dnsName string) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(ca.Crt))
	opts := x509.VerifyOptions{Roots: roots, CurrentTime: testNow, KeyUsages: []x509.ExtKeyUsage{usage}, DNSName: dnsName}
	if _, err := c.Verify(opts); err != nil {
		t.Errorf("does not verify against the CA: %v", err)
	}
	opts.CurrentTime = testNow.Add(2 * time.Hour)
	if _, err := c.Verify(opts); err == nil {
		t.Error("verifies after its lifetime")
	}
}

func TestGenerate(t *testing.T) {
	s := secretsForTest(t)
	cp, worker, err := Generate(GenerateInput{Secrets: s, Endpoint: "https://10.0.2.15:6443", CertSANs: []string{"10.0.2.15"}, InstallDisk: "/dev/vda"})
	if err != nil {
		t.Fatal(err)
	}
	if cp.Machine.Type != TypeControlPlane || cp.Machine.CA != s.OSCA || cp.Cluster.CA != s.KubernetesCA {
		t.Error("controlplane does not carry the CAs with keys")
	}
	if worker.Machine.Type != TypeWorker || worker.Machine.CA.Key != "" || worker.Cluster.CA.Key != "" {
		t.Error("worker carries CA keys")
	}
	if worker.Machine.CA.Crt != s.OSCA.Crt || worker.Cluster.CA.Crt != s.KubernetesCA.Crt || worker.Machine.Token != s.Token {
		t.Error("worker lacks the CA certificates or the token")
	}
	if cp.Cluster.Name != DefaultClusterName || worker.Machine.Install.Disk != "/dev/vda" {
		t.Errorf("name %q, disk %q", cp.Cluster.Name, worker.Machine.Install.Disk)
	}
	if _, _, err := Generate(GenerateInput{Secrets: s, Endpoint: "10.0.2.15:6443"}); err == nil {
		t.Error("bad endpoint accepted")
	}
	if _, _, err := Generate(GenerateInput{Endpoint: "https://a:1"}); err == nil {
		t.Error("no secrets accepted")
	}
}
