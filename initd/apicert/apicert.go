// Package apicert is the controller that keeps apid's (and trustd's) serving certificate
// valid for every name the node answers to. It issues it from the OS CA on a control
// plane node, or through the control plane's trustd with the join token on a worker,
// whenever the config, an address or the hostname changes, writes the key pair into the
// API users' directories, and publishes the public half as secrets/API, from which the
// service specs take the generation that restarts apid and trustd.
//
// A worker's certificate names only the address the control plane's trustd sees it
// call from (trustd binds names to the caller): no hostname, no localhost, no certSANs.
// It is re-issued when that address is no longer one of the node's.
//
// It also keeps what apid and trustd check callers against in step with the config,
// on every change and without a restart (both read these files at each handshake or
// request): apid's ca.crt is the OS CA followed by machine.acceptedCAs, and trustd's
// token is machine.token.
//
// The room: the API certificate. It reads only resources (config, addresses, hostname)
// and writes only the certificate files and its resource; it never starts or restarts
// a service itself.
package apicert

import (
	"bytes"
	"context"
	"crypto/sha256"
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
	"github.com/kiln-os/kiln/initd/events"
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
	// Emit reports a worker's join through trustd: event "join", state done or failed
	// (with trustd's answer, e.g. a wrong token), once per outcome, not per retry. Nil
	// reports nothing.
	Emit func(events.Event)

	trustWritten []byte // the digest of the trust files last written
	lastJoin     string // the last join outcome emitted
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
	if err := c.writeTrust(cfg.Config); err != nil {
		return err
	}
	hostname, addrs, err := names(r)
	if err != nil {
		return err
	}
	sans := apiSANs(cfg.Config, hostname, addrs)
	current, err := controller.Spec[resources.APICertificateSpec](r, resources.NamespaceSecrets, resources.TypeAPICertificate, resources.APICertificateID)
	if err != nil {
		return err
	}
	if current != nil && covers(cfg.Config, current, sans, addrs, time.Now()) {
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
	if cfg.Machine.CA.Key == "" {
		c.reportJoin(cfg, err)
	}
	if err != nil {
		return nil, fmt.Errorf("issue the API server certificate: %w", err)
	}
	files := map[string][]byte{"server.crt": crt, "server.key": key}
	if err := c.APID.WriteSecrets(files); err != nil {
		return nil, err
	}
	if cfg.Machine.CA.Key != "" { // a control plane node runs trustd, which alone holds the CA key
		files["ca.crt"], files["ca.key"] = []byte(cfg.Machine.CA.Crt), []byte(cfg.Machine.CA.Key)
		if err := c.Trustd.WriteSecrets(files); err != nil {
			return nil, err
		}
	}
	return certSpec(crt)
}

// reportJoin emits the outcome of a worker's certificate request when it differs from the
// last one: a wrong token fails every retry the same way, and the operator needs it once.
func (c *Controller) reportJoin(cfg *config.Config, err error) {
	ev := events.Event{Type: events.TypeInfo, Name: "join", State: events.StateDone,
		Fields: map[string]string{"endpoint": cfg.Cluster.ControlPlane.Endpoint}}
	if err != nil {
		ev.State, ev.Error = events.StateFailed, err.Error()
	}
	outcome := ev.State + "\x00" + ev.Error
	if c.Emit == nil || outcome == c.lastJoin {
		return
	}
	c.lastJoin = outcome
	c.Emit(ev)
}

// writeTrust writes apid's client CA bundle and, on a control plane node, trustd's join
// token, when they differ from what it last wrote (a restart of machined writes them
// again). apid and trustd read them at each handshake or request, so a change is live.
func (c *Controller) writeTrust(cfg *config.Config) error {
	bundle := clientCABundle(cfg)
	sum := sha256.New()
	for _, part := range [][]byte{bundle, []byte(cfg.Machine.Token), []byte(cfg.Machine.CA.Key)} {
		fmt.Fprintf(sum, "%d:%s", len(part), part)
	}
	digest := sum.Sum(nil)
	if bytes.Equal(digest, c.trustWritten) {
		return nil
	}
	if err := c.APID.WriteSecrets(map[string][]byte{"ca.crt": bundle}); err != nil {
		return err
	}
	if cfg.Machine.CA.Key != "" {
		if err := c.Trustd.WriteSecrets(map[string][]byte{"token": []byte(cfg.Machine.Token)}); err != nil {
			return err
		}
	}
	c.trustWritten = digest
	c.Log.WithField("acceptedCAs", len(cfg.Machine.AcceptedCAs)).Info("API trust written (client CAs, join token)")
	return nil
}

// clientCABundle is what apid accepts client certificates from: the OS CA, then each
// accepted CA (each validated as one CA certificate).
func clientCABundle(cfg *config.Config) []byte {
	var b bytes.Buffer
	texts := []string{cfg.Machine.CA.Crt}
	for _, ca := range cfg.Machine.AcceptedCAs {
		texts = append(texts, ca.Crt)
	}
	for _, text := range texts {
		b.WriteString(strings.TrimSpace(text))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// names are the node's hostname (as the network set it; "kiln" before) and addresses.
func names(r *controller.Runtime) (string, []string, error) {
	hostname := "kiln"
	h, err := controller.Spec[resources.HostnameStatusSpec](r, resources.NamespaceNetwork, resources.TypeHostnameStatus, resources.HostnameStatusID)
	if err != nil {
		return "", nil, err
	}
	if h != nil && h.Hostname != "" {
		hostname = h.Hostname
	}
	list, err := r.List(resources.NamespaceNetwork, resources.TypeAddressStatus)
	if err != nil {
		return "", nil, err
	}
	var addrs []string
	for _, r := range list {
		if a, ok := r.Spec.(*resources.AddressStatusSpec); ok {
			addrs = append(addrs, strings.SplitN(a.Address, "/", 2)[0])
		}
	}
	return hostname, addrs, nil
}

// apiSANs are the names a control plane's API certificate is valid for: the node's
// addresses, its hostname, the config's certSANs and loopback; sorted, without
// duplicates.
func apiSANs(cfg *config.Config, hostname string, addrs []string) []string {
	sans := append([]string{"localhost", "127.0.0.1", "::1", hostname}, addrs...)
	sans = append(sans, cfg.Machine.CertSANs...)
	slices.Sort(sans)
	return slices.Compact(sans)
}

// covers reports whether the certificate in force stays valid long enough and names
// what it should: on a control plane node exactly sans; on a worker one address, still
// one of the node's addrs (trustd chose it: the address the worker called from).
func covers(cfg *config.Config, spec *resources.APICertificateSpec, sans, addrs []string, now time.Time) bool {
	if !now.Add(renewBefore).Before(spec.NotAfter) {
		return false
	}
	if cfg.Machine.CA.Key == "" {
		return len(spec.DNSNames) == 0 && len(spec.IPAddresses) == 1 && slices.Contains(addrs, spec.IPAddresses[0])
	}
	have := append(append([]string(nil), spec.DNSNames...), spec.IPAddresses...)
	slices.Sort(have)
	return slices.Equal(slices.Compact(have), sans)
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
