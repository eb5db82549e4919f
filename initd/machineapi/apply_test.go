package machineapi

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/initd/configstate"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/internal/testpki"
)

// Attack (issue 12, hole 8), end to end on machined's socket: a valid config padded past
// 1 MiB with a YAML comment was decoded, persisted and applied. Now the caller gets
// InvalidArgument naming the limit and STATE stays empty.
func TestApplyConfigurationRefusesAnOversizedConfig(t *testing.T) {
	data := append(testpki.Encode(t, testpki.ControlPlaneConfig(t)), "# "+strings.Repeat("x", 2<<20)+"\n"...)
	store := resources.New(resources.Config{})
	applier := &configstate.Applier{Store: store, Emit: func(events.Event) {}, StateDir: t.TempDir(),
		Maintenance: func() bool { return false }, Reboot: func(string) {}}
	c := start(t, &Server{Resources: store, Apply: applier.Apply})
	_, err := c.ApplyConfiguration(context.Background(), &machine.ApplyConfigurationRequest{Data: data, Mode: machine.ApplyConfigurationRequest_REBOOT})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "1048576") {
		t.Errorf("2 MiB config: %v, want InvalidArgument naming the limit", err)
	}
	if configstate.Current(store) != nil {
		t.Error("the oversized config was published")
	}
}
