package apid

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/machine"
)

func startMaintenance(t *testing.T) (*echoBackend, *grpc.ClientConn) {
	t.Helper()
	echo, backend := startEchoBackend(t)
	cert, fingerprint, err := SelfSignedMaintenanceCert(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	addr := startAPID(t, &Server{Certificate: cert, Backend: backend, Maintenance: true})
	return echo, dialTLS(t, addr, pinned(fingerprint))
}

// Attack (issue 12, hole 8): anyone who reaches a node in maintenance mode could send it
// configs as fast as apid's general budget (50/s) allows, each decoded by PID 1.
// ApplyConfiguration has its own, much smaller, budget per peer address there.
func TestMaintenanceRateLimitsApplyConfigurationPerPeer(t *testing.T) {
	echo, conn := startMaintenance(t)
	var refused int
	for range 20 {
		err := call(context.Background(), conn, machine.MachineService_ApplyConfiguration_FullMethodName)
		if status.Code(err) == codes.ResourceExhausted {
			refused++
		}
	}
	if got := echo.callCount(); got > maintenanceApplyBurst {
		t.Errorf("machined received %d configs in a burst of 20, want at most %d", got, maintenanceApplyBurst)
	}
	if refused != 20-maintenanceApplyBurst {
		t.Errorf("%d of 20 refused as ResourceExhausted, want %d", refused, 20-maintenanceApplyBurst)
	}
	if err := call(context.Background(), conn, machine.MachineService_Version_FullMethodName); err != nil {
		t.Errorf("Version after the apply budget was spent: %v, want it answered", err)
	}
}

// Attack (issue 12, hole 8): a 4 MiB message reached machined in maintenance mode; apid
// there takes no message larger than a config may be.
// (machined may see the call open, never its message: the proxy opens the backend stream
// before it reads the first frame.)
func TestMaintenanceRefusesAnOversizedMessage(t *testing.T) {
	_, conn := startMaintenance(t)
	req := &machine.ApplyConfigurationRequest{Data: make([]byte, 2<<20)}
	err := conn.Invoke(context.Background(), machine.MachineService_ApplyConfiguration_FullMethodName, req, &machine.ApplyConfigurationResponse{})
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "larger than max") {
		t.Errorf("2 MiB ApplyConfiguration: %v, want ResourceExhausted for the message size", err)
	}
}
