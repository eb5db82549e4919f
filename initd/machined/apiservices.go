package machined

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/machineapi"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/supervisor"
)

// apid and trustd run as their own user, so that a compromised API process can neither
// read STATE nor reach the TPM; only that user may open machined's socket.
const (
	apiUID     = 50
	apiGID     = 50
	secretsDir = "/run/kiln/api" // /system is 0700 root: the API user could not reach it
	apiCertTTL = 365 * 24 * time.Hour
	apidPort   = "50000"
	trustdPort = "50001"
)

// serveMachineAPI starts machined's side of the API on its unix socket, for the rest of
// the boot.
func (m *Machined) serveMachineAPI(ctx context.Context, log logrus.FieldLogger) error {
	l, err := machineapi.Listen(machineapi.Socket, apiUID, apiGID)
	if err != nil {
		return err
	}
	srv := &machineapi.Server{
		Log:         m.Log.WithField("component", "machineapi"),
		EventSink:   m.Sink,
		LogSet:      m.Logs,
		Services:    m.runningServices,
		Maintenance: m.maintenanceMode,
		Apply:       m.applyConfig,
		Power:       m.power,
		Resources:   m.Resources,
		TPM:         machineapi.DefaultTPM,
	}
	go func() {
		if err := srv.Serve(context.Background(), l); err != nil {
			m.Log.WithError(err).Error("machine API stopped")
		}
	}()
	log.WithField("socket", machineapi.Socket).Info("machine API serving")
	return nil
}

func (m *Machined) runningServices() machineapi.Services {
	if sup := m.supervisor.Load(); sup != nil {
		return sup
	}
	return nil
}

// power queues a reboot, power off or reset for Run.
func (m *Machined) power(p machineapi.Power) error {
	m.requestPower(request{reboot: p.Reboot, reason: p.Reason, wipeState: p.WipeState, wipeEphemeral: p.WipeEphemeral})
	return nil
}

// maintenanceService is apid in maintenance mode, run outside the supervisor because it
// lives only while LoadConfig waits.
type maintenanceService struct {
	proc *supervisor.ProcessService
}

func (s *maintenanceService) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.proc.Stop(ctx)
}

// startMaintenanceAPI writes the self-signed certificate and starts apid --maintenance.
func (m *Machined) startMaintenanceAPI(cert tls.Certificate) (*maintenanceService, error) {
	certPEM, keyPEM, err := encodeTLSCert(cert)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{"maintenance.crt": certPEM, "maintenance.key": keyPEM}
	if err := writeSecrets(files); err != nil {
		return nil, err
	}
	proc, err := supervisor.NewProcess(m.apiProcessSpec("apid", "--maintenance",
		"--cert", filepath.Join(secretsDir, "maintenance.crt"), "--key", filepath.Join(secretsDir, "maintenance.key")))
	if err != nil {
		return nil, err
	}
	if err := proc.Start(context.Background()); err != nil {
		return nil, fmt.Errorf("start apid in maintenance mode: %w", err)
	}
	return &maintenanceService{proc: proc}, nil
}

// apiServices are apid and, on a control plane node, trustd, with certificates issued
// from the machine config's OS CA.
func (m *Machined) apiServices(log logrus.FieldLogger) ([]supervisor.Service, error) {
	cfg := m.currentConfig()
	if cfg == nil {
		return nil, errors.New("no machine config")
	}
	if cfg.Machine.CA.Key == "" {
		return nil, errors.New("machine.ca.key is empty: this version issues the API certificate from the OS CA on the node itself, so every node needs the CA key (a worker joining through trustd is not supported yet)")
	}
	sans := m.apiSANs(cfg)
	crt, key, err := config.IssueServerCert(config.CA{Crt: cfg.Machine.CA.Crt, Key: cfg.Machine.CA.Key}, m.hostname(), sans, apiCertTTL, time.Now())
	if err != nil {
		return nil, fmt.Errorf("issue the API server certificate: %w", err)
	}
	files := map[string][]byte{
		"ca.crt": []byte(cfg.Machine.CA.Crt), "server.crt": crt, "server.key": key,
		"ca.key": []byte(cfg.Machine.CA.Key), "token": []byte(cfg.Machine.Token),
	}
	if err := writeSecrets(files); err != nil {
		return nil, err
	}
	m.publishAPICert(crt)
	log.WithField("sans", strings.Join(sans, ",")).Info("API certificate issued")
	apid, err := supervisor.NewProcess(m.apiProcessSpec("apid",
		"--ca", secret("ca.crt"), "--cert", secret("server.crt"), "--key", secret("server.key")))
	if err != nil {
		return nil, err
	}
	trustd, err := supervisor.NewProcess(m.apiProcessSpec("trustd", "--listen", ":"+trustdPort,
		"--ca", secret("ca.crt"), "--ca-key", secret("ca.key"), "--cert", secret("server.crt"), "--key", secret("server.key"),
		"--token-file", secret("token")))
	if err != nil {
		return nil, err
	}
	return []supervisor.Service{apid, trustd}, nil
}

func secret(name string) string { return filepath.Join(secretsDir, name) }

// apiProcessSpec runs a mode of the multi-call binary as the API user, its output kept
// for the Logs call (and on the console), healthy once its port accepts connections.
func (m *Machined) apiProcessSpec(name string, args ...string) supervisor.ProcessSpec {
	port := apidPort
	if name == "trustd" {
		port = trustdPort
	}
	if name == "apid" {
		args = append(args, "--machined-socket", machineapi.Socket)
	}
	return supervisor.ProcessSpec{
		Name:       name,
		Argv:       append([]string{Self, name}, args...),
		Env:        []string{"PATH=/sbin:/usr/sbin:/bin:/usr/bin"},
		Output:     m.Logs.Get(name),
		Reaper:     m.Reaper,
		Credential: &syscall.Credential{Uid: apiUID, Gid: apiGID},
		Health:     func(ctx context.Context) error { return dialable(ctx, "127.0.0.1:"+port) },
	}
}

func dialable(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// writeSecrets writes files into secretsDir, readable only by the API user.
func writeSecrets(files map[string][]byte) error {
	if err := os.MkdirAll(secretsDir, 0o700); err != nil {
		return err
	}
	if err := os.Chown(secretsDir, apiUID, apiGID); err != nil {
		return err
	}
	for name, data := range files {
		path := filepath.Join(secretsDir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return err
		}
		if err := os.Chown(path, apiUID, apiGID); err != nil {
			return err
		}
	}
	return nil
}

// apiSANs are the names the API certificate is valid for: the node's addresses, its
// hostname, the config's certSANs and loopback.
func (m *Machined) apiSANs(cfg *config.Config) []string {
	sans := []string{"localhost", "127.0.0.1", "::1", m.hostname()}
	for _, r := range m.Resources.List(resources.NamespaceNetwork, resources.TypeAddressStatus) {
		if a, ok := r.Spec.(*resources.AddressStatusSpec); ok {
			sans = append(sans, strings.SplitN(a.Address, "/", 2)[0])
		}
	}
	sans = append(sans, cfg.Machine.CertSANs...)
	slices.Sort(sans)
	return slices.Compact(sans)
}

func (m *Machined) hostname() string {
	name, err := os.Hostname()
	if err != nil || name == "" || name == "(none)" {
		return "kiln"
	}
	return name
}

func (m *Machined) publishAPICert(certPEM []byte) {
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return
	}
	spec := &resources.APICertificateSpec{CertificatePEM: string(certPEM), DNSNames: c.DNSNames, NotAfter: c.NotAfter}
	for _, ip := range c.IPAddresses {
		spec.IPAddresses = append(spec.IPAddresses, ip.String())
	}
	m.setResource(resources.NamespaceSecrets, resources.TypeAPICertificate, resources.APICertificateID, spec)
}

func encodeTLSCert(cert tls.Certificate) (certPEM, keyPEM []byte, err error) {
	if len(cert.Certificate) == 0 {
		return nil, nil, errors.New("empty certificate")
	}
	der, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
