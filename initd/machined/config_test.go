package machined

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	logtest "github.com/sirupsen/logrus/hooks/test"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/resources"
)

func testConfig(t *testing.T) *config.Config {
	t.Helper()
	secrets, err := config.GenerateSecrets(time.Unix(1_700_000_000, 0))
	if err != nil {
		t.Fatal(err)
	}
	cp, _, err := config.Generate(config.GenerateInput{Secrets: secrets, Endpoint: "https://10.0.2.15:6443"})
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

func TestRebootNeeded(t *testing.T) {
	old := testConfig(t)
	same := *old
	if reboot, changed := rebootNeeded(old, &same); reboot || len(changed) != 0 {
		t.Errorf("identical configs: reboot=%v changed=%v", reboot, changed)
	}
	sysctl := *old
	sysctl.Machine.Sysctls = map[string]string{"net.ipv4.ip_forward": "1"}
	if reboot, changed := rebootNeeded(old, &sysctl); reboot || len(changed) != 1 || !strings.Contains(changed[0], "sysctls") {
		t.Errorf("sysctl change: reboot=%v changed=%v", reboot, changed)
	}
	host := *old
	host.Machine.Network.Hostname = "other"
	if reboot, _ := rebootNeeded(old, &host); !reboot {
		t.Error("a network change applies without a reboot")
	}
	if reboot, changed := rebootNeeded(nil, old); reboot || len(changed) != 1 {
		t.Errorf("first config: reboot=%v changed=%v", reboot, changed)
	}
}

func TestRedactHidesKeysAndToken(t *testing.T) {
	cfg := testConfig(t)
	text, err := config.Encode(redact(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(text), "PRIVATE KEY") || strings.Contains(string(text), cfg.Machine.Token) {
		t.Errorf("redacted config still holds a secret:\n%s", text)
	}
	if cfg.Machine.CA.Key == "REDACTED" {
		t.Error("redact changed the config in force")
	}
}

func TestKSPPSysctlsCannotBeWeakened(t *testing.T) {
	cfg := testConfig(t)
	cfg.Machine.Sysctls = map[string]string{"kernel.kptr_restrict": "0", "net.ipv4.ip_forward": "1"}
	err := checkSysctls(cfg)
	var fe config.FieldErrors
	if !errors.As(err, &fe) || len(fe) != 1 || fe[0].Path != "machine.sysctls[kernel.kptr_restrict]" {
		t.Errorf("checkSysctls = %v", err)
	}
}

func TestCmdlineParam(t *testing.T) {
	cl := "console=ttyS0 kiln.config=http://10.0.2.2:8080/c.yaml kiln.tpm=required"
	if got := cmdlineParam(cl, ConfigURLParam); got != "http://10.0.2.2:8080/c.yaml" {
		t.Errorf("kiln.config = %q", got)
	}
	if got := cmdlineParam(cl, "kiln.tp"); got != "" {
		t.Errorf("prefix matched: %q", got)
	}
}

func TestNetworkSpec(t *testing.T) {
	cfg := testConfig(t)
	cfg.Machine.Network = config.Network{Hostname: "node1", Nameservers: []string{"10.0.2.3"},
		Interfaces: []config.Interface{{Name: "eth0", Addresses: []string{"192.168.1.10/24"},
			Routes: []config.Route{{Network: "0.0.0.0/0", Gateway: "192.168.1.1"}}}}}
	spec, err := networkSpec(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if spec.Hostname != "node1" || len(spec.Interfaces) != 1 || spec.Interfaces[0].Routes[0].Gateway.String() != "192.168.1.1" || spec.Nameservers[0].String() != "10.0.2.3" {
		t.Errorf("spec = %+v", spec)
	}
	if spec, err := networkSpec(nil); err != nil || len(spec.Interfaces) != 0 {
		t.Errorf("no config: %+v %v", spec, err)
	}
}

func TestFetchConfigRetries(t *testing.T) {
	cfg := testConfig(t)
	data, err := config.Encode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var calls int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if calls == 1 {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		w.Write(data)
	}))
	defer srv.Close()
	log, _ := logtest.NewNullLogger()
	got, err := fetchConfig(context.Background(), srv.URL+"/node.yaml", log)
	if err != nil || calls != 2 || string(got) != string(data) {
		t.Fatalf("fetch = %d bytes, %v after %d calls", len(got), err, calls)
	}
	if _, err := fetchConfig(context.Background(), "ftp://example/x", log); err == nil || !strings.Contains(err.Error(), "http") {
		t.Errorf("ftp URL: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	dead := httptest.NewServer(http.NotFoundHandler())
	defer dead.Close()
	if _, err := fetchConfig(ctx, dead.URL, log); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("a config that never comes: %v", err)
	}
}

// In maintenance mode ApplyConfiguration answers only once the config is on STATE; an
// invalid config never reaches LoadConfig.
func TestApplyInMaintenancePersistsFirst(t *testing.T) {
	log, _ := logtest.NewNullLogger()
	m := &Machined{Log: log, Resources: resources.New(resources.Config{}), stateDir: t.TempDir(), applied: make(chan appliedConfig)}
	m.inMaintenance.Store(true)
	data, err := config.Encode(testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	go func() { // what maintenance() does with a config
		got := <-m.applied
		got.result <- m.persistConfig(got.data)
	}()
	ctx := context.Background()
	if _, err := m.applyConfig(ctx, &machine.ApplyConfigurationRequest{Data: []byte("version: v1alpha1\nmachine: {tpye: x}\n")}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("invalid config: %v", err)
	}
	resp, err := m.applyConfig(ctx, &machine.ApplyConfigurationRequest{Data: data})
	if err != nil || resp.ModeApplied != "no_reboot" {
		t.Fatalf("apply = %v, %v", resp, err)
	}
	if _, err := config.Load(m.configPath()); err != nil {
		t.Errorf("config not on STATE when the call returned: %v", err)
	}
	if _, err := m.applyConfig(ctx, &machine.ApplyConfigurationRequest{Data: data}); status.Code(err) != codes.Aborted {
		t.Errorf("second apply with nobody waiting: %v", err)
	}
}
