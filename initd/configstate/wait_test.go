package configstate

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/internal/testpki"
)

func setNetworkStatus(t *testing.T, store *resources.Store, spec *resources.NetworkStatusSpec) {
	t.Helper()
	if _, err := store.Set(context.Background(), resources.NamespaceNetwork, resources.TypeNetworkStatus, resources.NetworkStatusID, "test", spec); err != nil {
		t.Fatal(err)
	}
}

// WaitNetwork waits for the status of the config in force (the default network before
// there is one) and returns the error the controller reported.
func TestWaitNetworkFollowsTheConfigInForce(t *testing.T) {
	store := resources.New(resources.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	setNetworkStatus(t, store, &resources.NetworkStatusSpec{Ready: true})
	if err := WaitNetwork(ctx, store); err != nil {
		t.Fatalf("default network: %v", err)
	}
	cfg := testpki.ControlPlaneConfig(t)
	if err := Publish(ctx, store, func(e events.Event) {}, Loaded{Config: cfg, Data: []byte("one"), Source: "api"}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- WaitNetwork(ctx, store) }()
	select {
	case err := <-done:
		t.Fatalf("returned on the default network's status: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	setNetworkStatus(t, store, &resources.NetworkStatusSpec{ConfigSHA256: Current(store).SHA256, Error: `interface "eth9" from the machine config: no such link`})
	if err := <-done; err == nil || !strings.Contains(err.Error(), "eth9") {
		t.Errorf("WaitNetwork = %v, want the controller's error", err)
	}
	short, stop := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer stop()
	if err := WaitSysctls(short, store); err == nil || !strings.Contains(err.Error(), "SysctlStatus") {
		t.Errorf("no sysctl status: %v", err)
	}
}
