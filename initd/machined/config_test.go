package machined

import (
	"context"
	"strings"
	"testing"
	"time"

	logtest "github.com/sirupsen/logrus/hooks/test"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/configstate"
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
	if reboot, _ := rebootNeeded(old, &host); reboot {
		t.Error("a network change needs a reboot")
	}
	install := *old
	install.Machine.Install.Disk = "/dev/vda"
	if reboot, _ := rebootNeeded(old, &install); !reboot {
		t.Error("an install change applies without a reboot")
	}
	if reboot, changed := rebootNeeded(nil, old); reboot || len(changed) != 1 {
		t.Errorf("first config: reboot=%v changed=%v", reboot, changed)
	}
}

func TestCmdlineParam(t *testing.T) {
	cl := "console=ttyS0 kiln.config=http://10.0.2.2:8080/c.yaml kiln.tpm=required"
	if got := cmdlineParam(cl, configstate.URLParam); got != "http://10.0.2.2:8080/c.yaml" {
		t.Errorf("kiln.config = %q", got)
	}
	if got := cmdlineParam(cl, "kiln.tp"); got != "" {
		t.Errorf("prefix matched: %q", got)
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
		got.result <- configstate.Persist(m.stateMount(), got.loaded.Config)
	}()
	ctx := context.Background()
	if _, err := m.applyConfig(ctx, &machine.ApplyConfigurationRequest{Data: []byte("version: v1alpha1\nmachine: {tpye: x}\n")}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("invalid config: %v", err)
	}
	resp, err := m.applyConfig(ctx, &machine.ApplyConfigurationRequest{Data: data})
	if err != nil || resp.ModeApplied != "no_reboot" {
		t.Fatalf("apply = %v, %v", resp, err)
	}
	if _, err := config.Load(configstate.Path(m.stateMount())); err != nil {
		t.Errorf("config not on STATE when the call returned: %v", err)
	}
	if _, err := m.applyConfig(ctx, &machine.ApplyConfigurationRequest{Data: data}); status.Code(err) != codes.Aborted {
		t.Errorf("second apply with nobody waiting: %v", err)
	}
}
