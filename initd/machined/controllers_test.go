package machined

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus/hooks/test"

	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/resources/controller"
)

func TestAPICertControllerFollowsAddresses(t *testing.T) {
	log, _ := test.NewNullLogger()
	m := &Machined{Log: log, Resources: resources.New(resources.Config{}),
		api: apiUser{uid: os.Getuid(), gid: os.Getgid(), dir: t.TempDir()}}
	c := &apiCertController{m: m}
	r := controller.NewRuntime(m.Resources, c)
	ctx := context.Background()
	if err := c.Reconcile(ctx, r); err != nil {
		t.Fatalf("without a config: %v", err)
	}
	if _, err := m.Resources.Get(resources.NamespaceSecrets, resources.TypeAPICertificate, resources.APICertificateID); err == nil {
		t.Fatal("a certificate without a config")
	}
	m.cfg = testConfig(t)
	m.setResource(resources.NamespaceNetwork, resources.TypeAddressStatus, "eth0_10.0.2.15_24", &resources.AddressStatusSpec{Link: "eth0", Address: "10.0.2.15/24"})
	if err := c.Reconcile(ctx, r); err != nil {
		t.Fatal(err)
	}
	first, err := m.Resources.Get(resources.NamespaceSecrets, resources.TypeAPICertificate, resources.APICertificateID)
	if err != nil {
		t.Fatal(err)
	}
	if ips := first.Spec.(*resources.APICertificateSpec).IPAddresses; !strings.Contains(strings.Join(ips, ","), "10.0.2.15") {
		t.Errorf("certificate IPs %v lack the node's address", ips)
	}
	key, err := os.ReadFile(filepath.Join(m.api.dir, "server.key"))
	if err != nil || !strings.Contains(string(key), "PRIVATE KEY") {
		t.Fatalf("server key not written: %v", err)
	}
	if fi, _ := os.Stat(filepath.Join(m.api.dir, "server.key")); fi.Mode().Perm() != 0o600 {
		t.Errorf("server.key mode %v", fi.Mode().Perm())
	}
	if err := c.Reconcile(ctx, r); err != nil {
		t.Fatal(err)
	}
	if again, _ := m.Resources.Get(resources.NamespaceSecrets, resources.TypeAPICertificate, resources.APICertificateID); again.Version != first.Version {
		t.Errorf("unchanged inputs re-issued the certificate (version %d → %d)", first.Version, again.Version)
	}
	m.setResource(resources.NamespaceNetwork, resources.TypeAddressStatus, "eth0_10.0.2.16_24", &resources.AddressStatusSpec{Link: "eth0", Address: "10.0.2.16/24"})
	if err := c.Reconcile(ctx, r); err != nil {
		t.Fatal(err)
	}
	renewed, _ := m.Resources.Get(resources.NamespaceSecrets, resources.TypeAPICertificate, resources.APICertificateID)
	if renewed.Version == first.Version || !strings.Contains(strings.Join(renewed.Spec.(*resources.APICertificateSpec).IPAddresses, ","), "10.0.2.16") {
		t.Errorf("a new address did not re-issue the certificate: %+v", renewed.Spec)
	}
}

func TestAPICertControllerNeedsTheCAKey(t *testing.T) {
	log, _ := test.NewNullLogger()
	m := &Machined{Log: log, Resources: resources.New(resources.Config{}), api: apiUser{dir: t.TempDir()}}
	m.cfg = testConfig(t)
	m.cfg.Machine.CA.Key = ""
	c := &apiCertController{m: m}
	if err := c.Reconcile(context.Background(), controller.NewRuntime(m.Resources, c)); err == nil || !strings.Contains(err.Error(), "machine.ca.key") {
		t.Errorf("Reconcile without the CA key = %v", err)
	}
}
