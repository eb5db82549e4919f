package services

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/supervisor"
)

// Maintenance is apid in maintenance mode, under a supervisor of its own (restarted with
// backoff if it dies) because it lives only while LoadConfig waits for a config.
type Maintenance struct {
	sup *supervisor.Supervisor
}

// StartMaintenance writes the self-signed certificate for apid and starts apid
// --maintenance, which serves only Version and ApplyConfiguration.
func StartMaintenance(r Runner, machinedSocket string, cert tls.Certificate) (*Maintenance, error) {
	certPEM, keyPEM, err := encodeTLSCert(cert)
	if err != nil {
		return nil, err
	}
	u := APIDUser
	if err := u.WriteSecrets(map[string][]byte{"maintenance.crt": certPEM, "maintenance.key": keyPEM}); err != nil {
		return nil, err
	}
	proc, err := supervisor.NewProcess(r.processSpec(maintenanceSpec(machinedSocket)))
	if err != nil {
		return nil, err
	}
	sup, err := supervisor.New(supervisor.Config{Log: r.Log, Emit: r.Emit}, proc)
	if err != nil {
		return nil, err
	}
	if err := sup.Start(); err != nil {
		return nil, fmt.Errorf("start apid in maintenance mode: %w", err)
	}
	return &Maintenance{sup: sup}, nil
}

func maintenanceSpec(machinedSocket string) resources.ServiceSpecSpec {
	u := APIDUser
	return resources.ServiceSpecSpec{
		Name: "apid", Argv: []string{Self, "apid", "--maintenance", "--cert", u.Path("maintenance.crt"), "--key", u.Path("maintenance.key"),
			"--machined-socket", machinedSocket},
		Env: servicePath, UID: u.UID, GID: u.GID, Output: "apid", HealthTCP: "127.0.0.1:" + APIDPort,
	}
}

// Stop stops maintenance apid, bounded.
func (m *Maintenance) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m.sup.Stop(ctx)
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
