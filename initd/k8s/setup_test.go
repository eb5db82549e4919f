package k8s

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/resources/controller"
	"github.com/kiln-os/kiln/initd/resources/resourcetest"
)

// setupHarness runs a SetupController against a store with fakes that count calls and
// fail while told to.
type setupHarness struct {
	t                      *testing.T
	store                  *resources.Store
	ctl                    *SetupController
	imports, applies       int
	importFails, applyFail bool
	token                  string
}

func newSetupHarness(t *testing.T, cfg *config.Config) *setupHarness {
	h := &setupHarness{t: t, store: resources.New(resources.Config{})}
	h.ctl = &SetupController{Log: logrus.New(),
		ImportSandbox: func(ctx context.Context) error {
			h.imports++
			// An import, not a check: a slow node needs minutes, not the checks' seconds.
			if deadline, ok := ctx.Deadline(); !ok || time.Until(deadline) < time.Minute {
				t.Errorf("the sandbox import may take until %v, want minutes", deadline)
			}
			if h.importFails {
				return errors.New("containerd not answering")
			}
			return nil
		},
		ApplyManifests: func(_ context.Context, token string) error {
			h.applies++
			h.token = token
			if h.applyFail {
				return errors.New("apiserver gone")
			}
			return nil
		}}
	resourcetest.Set(t, h.store, resources.NamespaceConfig, resources.TypeMachineConfig, resources.MachineConfigID, &resources.MachineConfigSpec{Config: cfg})
	return h
}

func (h *setupHarness) reconcile() error {
	return h.ctl.Reconcile(context.Background(), controller.NewRuntime(h.store, h.ctl))
}

func (h *setupHarness) criHealthy(ok bool) {
	resourcetest.Set(h.t, h.store, resources.NamespaceRuntime, resources.TypeService, ServiceCRI, &resources.ServiceSpec{Name: ServiceCRI, Healthy: ok})
}

func (h *setupHarness) apiServer(problem string) {
	resourcetest.Set(h.t, h.store, resources.NamespaceK8s, resources.TypeKubernetesStatus, resources.KubernetesStatusID, &resources.KubernetesStatusSpec{APIServer: problem})
}

// The sandbox image goes in once the CRI containerd is healthy, once per boot; a failed
// import is returned (the manager retries it) and tried again.
func TestSetupImportsSandboxOnce(t *testing.T) {
	_, worker := configs(t)
	h := newSetupHarness(t, worker)
	if err := h.reconcile(); err != nil || h.imports != 0 {
		t.Fatalf("no CRI service yet: err %v, %d imports", err, h.imports)
	}
	h.criHealthy(false)
	if err := h.reconcile(); err != nil || h.imports != 0 {
		t.Fatalf("CRI not healthy: err %v, %d imports", err, h.imports)
	}
	h.criHealthy(true)
	h.importFails = true
	if err := h.reconcile(); err == nil || h.imports != 1 {
		t.Fatalf("failed import: err %v, %d imports; want the error back", err, h.imports)
	}
	h.importFails = false
	for range 2 {
		if err := h.reconcile(); err != nil {
			t.Fatal(err)
		}
	}
	if h.imports != 2 {
		t.Errorf("%d imports, want 2 (one failed, one that held)", h.imports)
	}
	h.apiServer("")
	if err := h.reconcile(); err != nil || h.applies != 0 {
		t.Errorf("a worker applied the manifests: err %v, %d applies", err, h.applies)
	}
}

// A controlplane applies the bootstrap manifests once the API server is ready, with the
// config's token, once per boot, and tries again after a failure.
func TestSetupAppliesManifestsOnControlplane(t *testing.T) {
	cp, _ := configs(t)
	h := newSetupHarness(t, cp)
	h.apiServer("GET /readyz: connection refused")
	if err := h.reconcile(); err != nil || h.applies != 0 {
		t.Fatalf("API server not ready: err %v, %d applies", err, h.applies)
	}
	h.apiServer("")
	h.applyFail = true
	if err := h.reconcile(); err == nil || h.applies != 1 {
		t.Fatalf("failed apply: err %v, %d applies; want the error back", err, h.applies)
	}
	h.applyFail = false
	for range 2 {
		if err := h.reconcile(); err != nil {
			t.Fatal(err)
		}
	}
	if h.applies != 2 || h.token != cp.Cluster.Token {
		t.Errorf("%d applies with token %q, want 2 with the config's", h.applies, h.token)
	}
}

// Without cluster.token the node runs no Kubernetes: nothing is done.
func TestSetupIdleWithoutKubernetes(t *testing.T) {
	cp, _ := configs(t)
	off := *cp
	off.Cluster.Token = ""
	if off.Kubernetes() {
		t.Fatal("a config without cluster.token runs Kubernetes")
	}
	h := newSetupHarness(t, &off)
	h.criHealthy(true)
	h.apiServer("")
	if err := h.reconcile(); err != nil || h.imports+h.applies != 0 {
		t.Errorf("err %v, %d imports, %d applies; want none", err, h.imports, h.applies)
	}
}
