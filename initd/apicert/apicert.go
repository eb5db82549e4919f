// Package apicert is the controller that keeps apid's (and trustd's) serving certificate
// valid for every name the node answers to. It issues it from the OS CA on a control
// plane node, or through the control plane's trustd with the join token on a worker,
// whenever the config, an address or the hostname changes, writes the key pair into the
// API users' directories, and publishes the public half as secrets/API, from which the
// service specs take the generation that restarts apid and trustd.
//
// The room: the API certificate. It reads only resources (config, addresses, hostname)
// and writes only the certificate files and its resource; it never starts or restarts
// a service itself.
package apicert

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/configstate"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/resources/controller"
	"github.com/kiln-os/kiln/initd/services"
)

// renewBefore re-issues the API certificate this long before it expires.
const renewBefore = 30 * 24 * time.Hour

// Controller keeps the API certificate in step with the node's names.
type Controller struct {
	APID, Trustd services.User // where the key pair goes
	Log          logrus.FieldLogger
}

func (c *Controller) Name() string { return "APICertificateController" }

func (c *Controller) Inputs() []controller.Input {
	return []controller.Input{
		configstate.Input,
		{Namespace: resources.NamespaceNetwork, Type: resources.TypeAddressStatus},
		{Namespace: resources.NamespaceNetwork, Type: resources.TypeHostnameStatus},
	}
}

func (c *Controller) Outputs() []controller.Output {
	return []controller.Output{{Type: resources.TypeAPICertificate}}
}

// Reconcile issues a certificate when there is none, when its names differ from the
// node's, or when it nears its end.
func (c *Controller) Reconcile(ctx context.Context, r *controller.Runtime) error {
	cfg, err := configstate.FromRuntime(r)
	if err != nil || cfg == nil {
		return err // no config yet: nothing to sign with
	}
	hostname, sans, err := names(r, cfg.Config)
	if err != nil {
		return err
	}
	current, err := controller.Spec[resources.APICertificateSpec](r, resources.NamespaceSecrets, resources.TypeAPICertificate, resources.APICertificateID)
	if err != nil {
		return err
	}
	if current != nil && certCovers(current, sans, time.Now()) {
		return nil
	}
	spec, err := c.issue(ctx, cfg.Config, hostname, sans)
	if err != nil {
		return err
	}
	if _, err := r.Set(ctx, resources.NamespaceSecrets, resources.TypeAPICertificate, resources.APICertificateID, spec); err != nil {
		return err
	}
	c.Log.WithFields(logrus.Fields{"sans": strings.Join(sans, ","), "notAfter": spec.NotAfter}).Info("API certificate issued")
	return nil
}

// issue makes a certificate and key for sans and writes them where apid (and, on a
// control plane node, trustd with the CA key and the token) read them.
func (c *Controller) issue(ctx context.Context, cfg *config.Config, hostname string, sans []string) (*resources.APICertificateSpec, error) {
	crt, key, err := issueAPICert(ctx, cfg, hostname, sans)
	if err != nil {
		return nil, fmt.Errorf("issue the API server certificate: %w", err)
	}
	files := map[string][]byte{"ca.crt": []byte(cfg.Machine.CA.Crt), "server.crt": crt, "server.key": key}
	if err := c.APID.WriteSecrets(files); err != nil {
		return nil, err
	}
	if cfg.Machine.CA.Key != "" { // a control plane node runs trustd, which alone holds the CA key
		files["ca.key"], files["token"] = []byte(cfg.Machine.CA.Key), []byte(cfg.Machine.Token)
		if err := c.Trustd.WriteSecrets(files); err != nil {
			return nil, err
		}
	}
	return certSpec(crt)
}

// names are the node's hostname (as the network set it; "kiln" before) and the names
// the certificate must cover.
func names(r *controller.Runtime, cfg *config.Config) (string, []string, error) {
	hostname := "kiln"
	h, err := controller.Spec[resources.HostnameStatusSpec](r, resources.NamespaceNetwork, resources.TypeHostnameStatus, resources.HostnameStatusID)
	if err != nil {
		return "", nil, err
	}
	if h != nil && h.Hostname != "" {
		hostname = h.Hostname
	}
	addrs, err := r.List(resources.NamespaceNetwork, resources.TypeAddressStatus)
	if err != nil {
		return "", nil, err
	}
	return hostname, apiSANs(cfg, hostname, addrs), nil
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
	return slices.Equal(slices.Compact(have), sans) && now.Add(renewBefore).Before(spec.NotAfter)
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
