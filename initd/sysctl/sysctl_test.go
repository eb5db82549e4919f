package sysctl

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/resources/controller"
)

func publish(t *testing.T, s *resources.Store, sha string, sysctls map[string]string) {
	t.Helper()
	cfg := &config.Config{Version: config.Version1Alpha1, Machine: config.Machine{Sysctls: sysctls}}
	_, err := s.Set(context.Background(), resources.NamespaceConfig, resources.TypeMachineConfig, resources.MachineConfigID, "machined", &resources.MachineConfigSpec{Config: cfg, SHA256: sha})
	if err != nil {
		t.Fatal(err)
	}
}

func TestWritesTheConfigsSysctlsLive(t *testing.T) {
	proc := t.TempDir()
	os.MkdirAll(filepath.Join(proc, "net/ipv4"), 0o755)
	os.WriteFile(filepath.Join(proc, "net/ipv4/ip_forward"), []byte("0\n"), 0o644) // /proc/sys has its files; the writer creates none
	s := resources.New(resources.Config{})
	c := &Controller{ProcSys: proc}
	r := controller.NewRuntime(s, c)
	ctx := context.Background()
	if err := c.Reconcile(ctx, r); err != nil {
		t.Fatalf("without a config: %v", err)
	}
	if _, err := s.Get(resources.NamespaceRuntime, resources.TypeSysctlStatus, resources.SysctlStatusID); err == nil {
		t.Error("a status without a config")
	}
	publish(t, s, "one", map[string]string{"net.ipv4.ip_forward": "1", "no.such.dir": "1"})
	if err := c.Reconcile(ctx, r); err != nil {
		t.Fatal(err)
	}
	publish(t, s, "two", map[string]string{"net.ipv4.ip_forward": "0"})
	if err := c.Reconcile(ctx, r); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(proc, "net/ipv4/ip_forward"))
	if string(data) != "0\n" {
		t.Errorf("ip_forward = %q after the second config", data)
	}
	res, _ := s.Get(resources.NamespaceRuntime, resources.TypeSysctlStatus, resources.SysctlStatusID)
	st := res.Spec.(*resources.SysctlStatusSpec)
	if st.ConfigSHA256 != "two" || st.Values["net.ipv4.ip_forward"] != "0" || len(st.Errors) != 0 {
		t.Errorf("status %+v", st)
	}
}

func TestReportsWhatItCannotWrite(t *testing.T) {
	s := resources.New(resources.Config{})
	c := &Controller{ProcSys: t.TempDir()}
	publish(t, s, "x", map[string]string{"no.such.dir": "1"})
	if err := c.Reconcile(context.Background(), controller.NewRuntime(s, c)); err != nil {
		t.Fatal(err)
	}
	res, _ := s.Get(resources.NamespaceRuntime, resources.TypeSysctlStatus, resources.SysctlStatusID)
	if st := res.Spec.(*resources.SysctlStatusSpec); st.Errors["no.such.dir"] == "" {
		t.Errorf("status %+v lacks the failed write", st)
	}
}

// A config resource that did not pass validation (published by a bug, or by a future path
// that forgets Decode) still cannot reach a KSPP file by another spelling: the writer
// refuses the name and the status says why.
func TestRefusesNonCanonicalNames(t *testing.T) {
	proc := t.TempDir()
	kptr := filepath.Join(proc, "kernel", "kptr_restrict")
	os.MkdirAll(filepath.Dir(kptr), 0o755)
	os.WriteFile(kptr, []byte("2\n"), 0o644)
	s := resources.New(resources.Config{})
	c := &Controller{ProcSys: proc}
	publish(t, s, "x", map[string]string{"kernel/kptr_restrict": "0", "kernel.kptr_restrict.": "0"})
	if err := c.Reconcile(context.Background(), controller.NewRuntime(s, c)); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(kptr); string(data) != "2\n" {
		t.Errorf("kptr_restrict = %q", data)
	}
	res, _ := s.Get(resources.NamespaceRuntime, resources.TypeSysctlStatus, resources.SysctlStatusID)
	if st := res.Spec.(*resources.SysctlStatusSpec); len(st.Errors) != 2 || len(st.Values) != 0 {
		t.Errorf("status %+v, want both names refused", st)
	}
}

// A config that runs Kubernetes turns forwarding on, unless it says otherwise itself.
func TestKubernetesTurnsForwardingOn(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sysctls map[string]string
		want    string
	}{
		{"kubernetes", nil, "1\n"},
		{"kubernetes, the config says 0", map[string]string{"net.ipv4.ip_forward": "0"}, "0\n"},
	} {
		proc := t.TempDir()
		os.MkdirAll(filepath.Join(proc, "net/ipv4"), 0o755)
		os.WriteFile(filepath.Join(proc, "net/ipv4/ip_forward"), []byte("0\n"), 0o644)
		s := resources.New(resources.Config{})
		cfg := &config.Config{Version: config.Version1Alpha1, Machine: config.Machine{Sysctls: tc.sysctls}, Cluster: config.Cluster{Token: "abcdef.0123456789abcdef"}}
		if _, err := s.Set(context.Background(), resources.NamespaceConfig, resources.TypeMachineConfig, resources.MachineConfigID, "machined", &resources.MachineConfigSpec{Config: cfg, SHA256: "k"}); err != nil {
			t.Fatal(err)
		}
		c := &Controller{ProcSys: proc}
		if err := c.Reconcile(context.Background(), controller.NewRuntime(s, c)); err != nil {
			t.Fatal(err)
		}
		if data, _ := os.ReadFile(filepath.Join(proc, "net/ipv4/ip_forward")); string(data) != tc.want {
			t.Errorf("%s: ip_forward = %q, want %q", tc.name, data, tc.want)
		}
	}
	// Without Kubernetes nothing is written that the config does not name.
	proc := t.TempDir()
	os.MkdirAll(filepath.Join(proc, "net/ipv4"), 0o755)
	os.WriteFile(filepath.Join(proc, "net/ipv4/ip_forward"), []byte("0\n"), 0o644)
	s := resources.New(resources.Config{})
	publish(t, s, "plain", nil)
	c := &Controller{ProcSys: proc}
	if err := c.Reconcile(context.Background(), controller.NewRuntime(s, c)); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(proc, "net/ipv4/ip_forward")); string(data) != "0\n" {
		t.Errorf("without Kubernetes: ip_forward = %q", data)
	}
}
