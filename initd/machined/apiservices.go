package machined

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/initd/machineapi"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/supervisor"
	"github.com/kiln-os/kiln/internal/atomicfile"
)

// apid and trustd run as users of their own, so that a compromised API process can neither
// read STATE nor reach the TPM; only apid's user may open machined's socket, and only
// trustd's user may read the OS CA key (an apid that could would mint admin certificates).
// Their files live under /run/kiln: /system is 0700 root, out of their reach.
const (
	apidUID    = 50
	trustdUID  = 51
	apiCertTTL = 365 * 24 * time.Hour
	apidPort   = "50000"
	trustdPort = "50001"
)

// serveMachineAPI starts machined's side of the API on its unix socket, for the rest of
// the boot.
func (m *Machined) serveMachineAPI(ctx context.Context, log logrus.FieldLogger) error {
	l, err := machineapi.Listen(machineapi.Socket, m.apid.uid, m.apid.gid)
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

// maintenanceService is apid in maintenance mode, under a supervisor of its own (restarted
// with backoff if it dies) because it lives only while LoadConfig waits.
type maintenanceService struct {
	sup *supervisor.Supervisor
}

func (s *maintenanceService) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.sup.Stop(ctx)
}

// startMaintenanceAPI writes the self-signed certificate and starts apid --maintenance.
func (m *Machined) startMaintenanceAPI(log logrus.FieldLogger, cert tls.Certificate) (*maintenanceService, error) {
	certPEM, keyPEM, err := encodeTLSCert(cert)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{"maintenance.crt": certPEM, "maintenance.key": keyPEM}
	if err := m.apid.writeSecrets(files); err != nil {
		return nil, err
	}
	proc, err := supervisor.NewProcess(m.apiProcessSpec("apid", "--maintenance",
		"--cert", m.apid.path("maintenance.crt"), "--key", m.apid.path("maintenance.key")))
	if err != nil {
		return nil, err
	}
	sup, err := supervisor.New(supervisor.Config{Log: log, Emit: m.Sink.Emit}, proc)
	if err != nil {
		return nil, err
	}
	if err := sup.Start(); err != nil {
		return nil, fmt.Errorf("start apid in maintenance mode: %w", err)
	}
	return &maintenanceService{sup: sup}, nil
}

// apiServices are apid and trustd, serving the certificate the APICertificateController
// issued from the machine config's OS CA (it waits for it, bounded).
func (m *Machined) apiServices(ctx context.Context, log logrus.FieldLogger) ([]supervisor.Service, error) {
	if err := m.waitAPICert(ctx); err != nil {
		return nil, err
	}
	apid, err := supervisor.NewProcess(m.apiProcessSpec("apid",
		"--ca", m.apid.path("ca.crt"), "--cert", m.apid.path("server.crt"), "--key", m.apid.path("server.key")))
	if err != nil {
		return nil, err
	}
	if m.currentConfig().Machine.CA.Key == "" {
		return []supervisor.Service{apid}, nil // a worker: only control plane nodes sign
	}
	trustd, err := supervisor.NewProcess(m.apiProcessSpec("trustd", "--listen", ":"+trustdPort,
		"--ca", m.trustd.path("ca.crt"), "--ca-key", m.trustd.path("ca.key"), "--cert", m.trustd.path("server.crt"), "--key", m.trustd.path("server.key"),
		"--token-file", m.trustd.path("token")))
	if err != nil {
		return nil, err
	}
	return []supervisor.Service{apid, trustd}, nil
}

// waitAPICert waits until the controller has published the API certificate.
func (m *Machined) waitAPICert(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ch, err := m.Resources.Watch(ctx, resources.NamespaceSecrets, resources.TypeAPICertificate, resources.APICertificateID, resources.WatchOptions{})
	if err != nil {
		return err
	}
	for ev := range ch {
		if ev.Type == resources.EventCreated || ev.Type == resources.EventUpdated {
			return nil
		}
	}
	return fmt.Errorf("no API certificate after 30 s (see the APICertificateController's log): %w", ctx.Err())
}

// path is a file in the API user's directory.
func (u apiUser) path(name string) string { return filepath.Join(u.dir, name) }

// apiProcessSpec runs a mode of the multi-call binary as the API user, its output kept
// for the Logs call (and on the console), healthy once its port accepts connections.
func (m *Machined) apiProcessSpec(name string, args ...string) supervisor.ProcessSpec {
	port, user := apidPort, m.apid
	if name == "trustd" {
		port, user = trustdPort, m.trustd
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
		Credential: &syscall.Credential{Uid: uint32(user.uid), Gid: uint32(user.gid)},
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

// apiUser is who runs apid and trustd and where their secrets live.
type apiUser struct {
	uid, gid int
	dir      string
}

// The users of apid and trustd.
var (
	apidUser   = apiUser{uid: apidUID, gid: apidUID, dir: "/run/kiln/apid"}
	trustdUser = apiUser{uid: trustdUID, gid: trustdUID, dir: "/run/kiln/trustd"}
)

// writeSecrets writes files (atomically) into the API user's directory, readable only by
// that user.
func (u apiUser) writeSecrets(files map[string][]byte) error {
	if err := os.MkdirAll(u.dir, 0o700); err != nil {
		return err
	}
	if err := os.Chown(u.dir, u.uid, u.gid); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		path := filepath.Join(u.dir, name)
		if err := atomicfile.Write(path, files[name], 0o600); err != nil {
			return err
		}
		if err := os.Chown(path, u.uid, u.gid); err != nil {
			return err
		}
	}
	return nil
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
