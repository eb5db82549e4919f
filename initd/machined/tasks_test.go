package machined

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus/hooks/test"

	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/supervisor"
	"github.com/kiln-os/kiln/kernel/kspp"
)

// The tasks are tested with fakes: a file for /proc/cmdline, a slice for the event sink,
// a store, a fake service runner.

type recorder struct{ events []events.Event }

func (r *recorder) emit(e events.Event) { r.events = append(r.events, e) }

func TestCheckCmdlineReportsWhatItChecked(t *testing.T) {
	log, _ := test.NewNullLogger()
	path := filepath.Join(t.TempDir(), "cmdline")
	var rec recorder
	os.WriteFile(path, []byte("console=ttyS0\n"), 0o644)
	if err := checkCmdline(path, rec.emit)(context.Background(), log); err == nil || len(rec.events) != 0 {
		t.Fatalf("a command line without KSPP passed: %v, events %v", err, rec.events)
	}
	var params []string
	for _, r := range kspp.Of(kspp.Cmdline, kspp.Required) {
		if r.Value == "" {
			params = append(params, r.Name)
		} else {
			params = append(params, r.Name+"="+r.Value)
		}
	}
	good := strings.Join(params, " ")
	os.WriteFile(path, []byte(good+"\n"), 0o644)
	if err := checkCmdline(path, rec.emit)(context.Background(), log); err != nil {
		t.Fatal(err)
	}
	if len(rec.events) != 1 || rec.events[0].Fields["cmdline"] != good {
		t.Errorf("events %v", rec.events)
	}
}

func TestReportSecureBootWithoutEFI(t *testing.T) {
	log, _ := test.NewNullLogger()
	var rec recorder
	var published *resources.SecureBootStatusSpec
	reportSecureBoot(log, filepath.Join(t.TempDir(), "none"), rec.emit, func(s *resources.SecureBootStatusSpec) { published = s })
	if len(rec.events) != 1 || rec.events[0].State != "no-efi" || published == nil || published.Source != "none" {
		t.Errorf("events %v, published %+v", rec.events, published)
	}
}

type fakeRunner struct{ sup *supervisor.Supervisor }

func (f fakeRunner) WaitRunning(context.Context) (*supervisor.Supervisor, error) { return f.sup, nil }

// Supervise waits for the API certificate, names the controller when it never comes,
// and then waits for the services to be healthy.
func TestStartServicesWaitsForTheCertificate(t *testing.T) {
	log, _ := test.NewNullLogger()
	store := resources.New(resources.Config{})
	if err := waitAPICert(context.Background(), store, 50*time.Millisecond); err == nil || !strings.Contains(err.Error(), "APICertificateController") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("no certificate: %v", err)
	}
	store.Create(resources.Resource{Metadata: resources.Metadata{Namespace: resources.NamespaceSecrets, Type: resources.TypeAPICertificate, ID: resources.APICertificateID, Owner: "test"},
		Spec: &resources.APICertificateSpec{CertificatePEM: "x"}})
	sup, err := supervisor.New(supervisor.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var rec recorder
	if err := startServices(store, fakeRunner{sup}, rec.emit)(context.Background(), log); err != nil {
		t.Fatal(err)
	}
}

// The running phase reaches MachineStatus, which the service spec controller waits on.
func TestRecordPhase(t *testing.T) {
	var rec recorder
	status := &resources.MachineStatusSpec{Stage: resources.StageBooting}
	emit := recordPhase(rec.emit, func(change func(*resources.MachineStatusSpec)) { change(status) })
	emit(events.Event{Type: events.TypePhase, Name: "Network", State: events.StateStarted})
	emit(events.Event{Type: events.TypeTask, Name: "Network/ConfigureNetwork", State: events.StateStarted})
	if status.Phase != "Network" || status.ServicesAllowed() || len(rec.events) != 2 {
		t.Errorf("status %+v, %d events", status, len(rec.events))
	}
	emit(events.Event{Type: events.TypePhase, Name: resources.PhaseStartServices, State: events.StateStarted})
	if !status.ServicesAllowed() {
		t.Errorf("StartServices does not allow services: %+v", status)
	}
}
