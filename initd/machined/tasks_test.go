package machined

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus/hooks/test"

	"github.com/kiln-os/kiln/initd/cgroup"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/resources/resourcetest"
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

// Supervise waits for the API certificate, names the controller when it never comes,
// and then waits until every service of the ServiceSet is healthy in runtime/Service,
// naming the ones that are not.
func TestStartServicesWaitsForTheCertificate(t *testing.T) {
	log, _ := test.NewNullLogger()
	store := resources.New(resources.Config{})
	if err := waitAPICert(context.Background(), store, 50*time.Millisecond); err == nil || !strings.Contains(err.Error(), "APICertificateController") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("no certificate: %v", err)
	}
	resourcetest.Set(t, store, resources.NamespaceSecrets, resources.TypeAPICertificate, resources.APICertificateID, &resources.APICertificateSpec{CertificatePEM: "x"})
	resourcetest.Set(t, store, resources.NamespaceRuntime, resources.TypeServiceSet, resources.ServiceSetID, &resources.ServiceSetSpec{Names: []string{"apid", "trustd"}})
	resourcetest.Set(t, store, resources.NamespaceRuntime, resources.TypeService, "apid", &resources.ServiceSpec{Name: "apid", State: "healthy", Healthy: true})
	resourcetest.Set(t, store, resources.NamespaceRuntime, resources.TypeService, "trustd", &resources.ServiceSpec{Name: "trustd", State: "starting", LastError: "bind: address in use"})
	var rec recorder
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := startServices(store, rec.emit)(short, log)
	if err == nil || !strings.Contains(err.Error(), "trustd starting: bind: address in use") || strings.Contains(err.Error(), "apid") {
		t.Fatalf("trustd unhealthy: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- startServices(store, rec.emit)(context.Background(), log) }()
	resourcetest.Set(t, store, resources.NamespaceRuntime, resources.TypeService, "trustd", &resources.ServiceSpec{Name: "trustd", State: "healthy", Healthy: true})
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Supervise did not see trustd become healthy")
	}
}

// A service that the set does not name yet is not waited for, and a set whose services
// have not started is reported as such.
func TestStartServicesNamesServicesNotStarted(t *testing.T) {
	store := resources.New(resources.Config{})
	resourcetest.Set(t, store, resources.NamespaceRuntime, resources.TypeServiceSet, resources.ServiceSetID, &resources.ServiceSetSpec{Names: []string{"apid"}})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := waitServicesHealthy(ctx, store); err == nil || !strings.Contains(err.Error(), "apid not started") {
		t.Errorf("got %v", err)
	}
	empty := resources.New(resources.Config{})
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if _, err := waitServicesHealthy(ctx2, empty); err == nil || !strings.Contains(err.Error(), "listed no services") {
		t.Errorf("no set: %v", err)
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

// TestCgroupTreeFailureFailsEarlyMounts: a root that is not cgroup2 is an error of the
// MountCgroup2 task (so the boot stops), naming the root.
func TestCgroupTreeFailureFailsEarlyMounts(t *testing.T) {
	root := t.TempDir()
	err := setupCgroups(cgroup.New(root), 0)
	if err == nil || !strings.Contains(err.Error(), root) || !strings.Contains(err.Error(), "not a cgroup2 mount") {
		t.Errorf("setupCgroups on a plain directory = %v, want an error naming %s", err, root)
	}
}

// TestProcessStatsCountDescriptorsAndHeap: opening descriptors shows in FDs, and the
// resource machined publishes carries the figures.
func TestProcessStatsCountDescriptorsAndHeap(t *testing.T) {
	before, err := readProcessStats("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	const extra = 10
	for range extra {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
	}
	after, err := readProcessStats("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	if after.FDs != before.FDs+extra {
		t.Errorf("FDs %d after opening %d, want %d", after.FDs, extra, before.FDs+extra)
	}
	if after.HeapAlloc == 0 || after.HeapSys < after.HeapAlloc || after.Goroutines == 0 {
		t.Errorf("stats %+v, want a heap and goroutines", after)
	}
	if _, err := readProcessStats(filepath.Join(t.TempDir(), "nope")); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing fd dir: %v, want an error naming it", err)
	}

	log, _ := test.NewNullLogger()
	m := &Machined{Log: log, Resources: resources.New(resources.Config{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.publishProcessStats(ctx, "/proc/self/fd", time.Hour); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, err := m.Resources.Get(resources.NamespaceRuntime, resources.TypeProcessStats, resources.ProcessStatsID)
		if err == nil {
			if spec := r.Spec.(*resources.ProcessStatsSpec); spec.FDs < after.FDs-extra || spec.HeapAlloc == 0 {
				t.Errorf("published %+v", spec)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("runtime/ProcessStats not published: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
}

func TestSettleUSBWithoutHostControllerIsImmediate(t *testing.T) {
	log, _ := test.NewNullLogger()
	dir := t.TempDir() // usbcore built in, no host controller: the folder is empty
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := settleUSBIn(ctx, log, dir); err != nil {
		t.Errorf("no root hub: %v, want done at once", err)
	}
	// A root hub: the bus is watched until it is quiet, which this context does not allow.
	if err := os.Mkdir(filepath.Join(dir, "usb1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := settleUSBIn(ctx, log, dir); err == nil || !strings.Contains(err.Error(), "did not settle") {
		t.Errorf("with a root hub: %v, want it to wait for a quiet bus", err)
	}
}

func TestMemoryFields(t *testing.T) {
	proc := t.TempDir()
	os.MkdirAll(filepath.Join(proc, "self"), 0o755)
	os.WriteFile(filepath.Join(proc, "meminfo"), []byte("MemTotal:       1000 kB\nMemFree:         300 kB\nMemAvailable:    600 kB\n"), 0o644)
	os.WriteFile(filepath.Join(proc, "self", "statm"), []byte("5000 1200 300 100 0 900 0\n"), 0o644)
	got := memoryFields(proc)
	want := map[string]string{"memTotal": "1024000", "memUsed": "409600", "machinedRSS": fmt.Sprint(1200 * os.Getpagesize())}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if got := memoryFields(t.TempDir()); len(got) != 0 {
		t.Errorf("nothing readable: %v, want no fields", got)
	}
}
