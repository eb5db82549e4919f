package machined

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/resources/controller"
)

// startControllers runs machined's controllers for the rest of the boot.
func (m *Machined) startControllers() error {
	mgr := controller.NewManager(m.Resources, controller.Config{Log: m.Log.WithField("component", "controllers")})
	if err := mgr.Register(&apiCertController{m: m}); err != nil {
		return err
	}
	go func() {
		if err := mgr.Run(context.Background()); err != nil {
			m.Log.WithError(err).Error("controllers stopped")
		}
	}()
	return nil
}

// apiCertRenewBefore re-issues the API certificate this long before it expires.
const apiCertRenewBefore = 30 * 24 * time.Hour

// apiCertController keeps apid's serving certificate valid for every name the node
// answers to: it re-issues it when the config, an address or the hostname changes (a new
// DHCP lease, say), from the OS CA on a control plane node or through trustd on a worker,
// writes it for apid and restarts apid to load it.
type apiCertController struct {
	m *Machined
}

func (c *apiCertController) Name() string { return "APICertificateController" }

func (c *apiCertController) Inputs() []controller.Input {
	return []controller.Input{
		{Namespace: resources.NamespaceConfig, Type: resources.TypeMachineConfig},
		{Namespace: resources.NamespaceNetwork, Type: resources.TypeAddressStatus},
		{Namespace: resources.NamespaceNetwork, Type: resources.TypeHostnameStatus},
	}
}

func (c *apiCertController) Outputs() []controller.Output {
	return []controller.Output{{Type: resources.TypeAPICertificate}}
}

// Reconcile issues a certificate when there is none, when its names differ from the
// node's, or when it nears its end.
func (c *apiCertController) Reconcile(ctx context.Context, r *controller.Runtime) error {
	cfg := c.m.currentConfig()
	if cfg == nil {
		return nil // no config yet: nothing to sign with
	}
	addrs, err := r.List(resources.NamespaceNetwork, resources.TypeAddressStatus)
	if err != nil {
		return err
	}
	sans := apiSANs(cfg, c.m.hostname(), addrs)
	if current, err := r.Get(resources.NamespaceSecrets, resources.TypeAPICertificate, resources.APICertificateID); err == nil {
		if spec, ok := current.Spec.(*resources.APICertificateSpec); ok && certCovers(spec, sans, time.Now()) {
			return nil
		}
	}
	crt, key, err := issueAPICert(ctx, cfg, c.m.hostname(), sans)
	if err != nil {
		return fmt.Errorf("issue the API server certificate: %w", err)
	}
	files := map[string][]byte{"ca.crt": []byte(cfg.Machine.CA.Crt), "server.crt": crt, "server.key": key}
	if err := c.m.apid.writeSecrets(files); err != nil {
		return err
	}
	if cfg.Machine.CA.Key != "" { // a control plane node runs trustd, which alone holds the CA key
		files["ca.key"], files["token"] = []byte(cfg.Machine.CA.Key), []byte(cfg.Machine.Token)
		if err := c.m.trustd.writeSecrets(files); err != nil {
			return err
		}
	}
	spec, err := certSpec(crt)
	if err != nil {
		return err
	}
	if _, err := r.Set(ctx, resources.NamespaceSecrets, resources.TypeAPICertificate, resources.APICertificateID, spec); err != nil {
		return err
	}
	c.m.Log.WithFields(logrus.Fields{"sans": strings.Join(sans, ","), "notAfter": spec.NotAfter}).Info("API certificate issued")
	c.m.restartAPIServices()
	return nil
}

// restartAPIServices makes running apid and trustd load a new certificate.
func (m *Machined) restartAPIServices() {
	sup := m.supervisor.Load()
	if sup == nil {
		return // StartServices starts them with the files as they are
	}
	for _, name := range []string{"apid", "trustd"} {
		if err := sup.Restart(name); err != nil {
			m.Log.WithError(err).WithField("service", name).Warn("restart for the new certificate")
		}
	}
}

// apiSANs are the names the API certificate is valid for: the node's addresses, its
// hostname, the config's certSANs and loopback; sorted, without duplicates.
func apiSANs(cfg *config.Config, hostname string, addrs []resources.Resource) []string {
	sans := []string{"localhost", "127.0.0.1", "::1", hostname}
	for _, r := range addrs {
		if a, ok := r.Spec.(*resources.AddressStatusSpec); ok {
			sans = append(sans, strings.SplitN(a.Address, "/", 2)[0])
		}
	}
	sans = append(sans, cfg.Machine.CertSANs...)
	slices.Sort(sans)
	return slices.Compact(sans)
}

// certCovers reports whether a certificate names exactly sans and stays valid long enough.
func certCovers(spec *resources.APICertificateSpec, sans []string, now time.Time) bool {
	have := append(append([]string(nil), spec.DNSNames...), spec.IPAddresses...)
	slices.Sort(have)
	return slices.Equal(slices.Compact(have), sans) && now.Add(apiCertRenewBefore).Before(spec.NotAfter)
}

// certSpec is the public half of a certificate as a resource.
func certSpec(certPEM []byte) (*resources.APICertificateSpec, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return nil, errors.New("issued certificate is not PEM")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, err
	}
	spec := &resources.APICertificateSpec{CertificatePEM: string(certPEM), DNSNames: c.DNSNames, NotAfter: c.NotAfter}
	for _, ip := range c.IPAddresses {
		spec.IPAddresses = append(spec.IPAddresses, ip.String())
	}
	return spec, nil
}

// hostname is the node's name as the kernel has it ("kiln" before one is set).
func (m *Machined) hostname() string {
	name, err := os.Hostname()
	if err != nil || name == "" || name == "(none)" {
		return "kiln"
	}
	return name
}
