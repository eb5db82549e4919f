package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/qemu"
)

// memoryFloorSizes are the -m values TestMemoryFloor tries below the harness's 1024 MiB,
// largest first; it stops at the first that does not reach ready.
var memoryFloorSizes = []int{512, 384, 320, 256, 224, 192, 160, 128, 96}

// memoryAttempt is one diskless direct boot at one memory size.
type memoryAttempt struct {
	MiB         int    `json:"mib"`
	Ready       bool   `json:"ready"`
	MemTotal    int64  `json:"memTotal,omitempty"`
	MemUsed     int64  `json:"memUsed,omitempty"`
	MachinedRSS int64  `json:"machinedRSS,omitempty"`
	Error       string `json:"error,omitempty"`
}

// TestMemoryFloor boots the image diskless (direct boot) at 1024 MiB, then at smaller
// sizes until one does not reach ready, and records what the node uses at ready (from the
// ready event: MemTotal less MemAvailable, and machined's resident set) and the smallest
// size that reached it, in _out/qemu-logs/memory.json. It is a benchmark, not a check:
// `make bench` runs it (KILN_BENCH_MEMORY=1).
func TestMemoryFloor(t *testing.T) {
	if os.Getenv("KILN_BENCH_MEMORY") == "" {
		t.Skip("a benchmark: make bench runs it")
	}
	img := requireImage(t)
	var attempts []memoryAttempt
	smallest := 0
	for _, mib := range append([]int{1024}, memoryFloorSizes...) {
		a := bootWithMemory(t, img, mib)
		t.Logf("%d MiB: %+v", mib, a)
		attempts = append(attempts, a)
		if !a.Ready {
			break
		}
		smallest = mib
	}
	data, _ := json.MarshalIndent(map[string]any{"attempts": attempts, "smallestReadyMiB": smallest}, "", "  ")
	if err := os.WriteFile(filepath.Join(img.out, "qemu-logs", "memory.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if smallest == 0 {
		t.Fatalf("no boot reached ready, not even at 1024 MiB: %+v", attempts[0])
	}
}

// bootWithMemory boots once with mib of RAM. A boot that fails, panics (QEMU exits: no
// reboot) or stalls for 4 minutes did not reach ready.
func bootWithMemory(t *testing.T, img image, mib int) memoryAttempt {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	vm := start(t, ctx, img, fmt.Sprintf("memory-%d", mib), img.cmdline, withConfig(t), qemu.WithMemory(mib), qemu.WithNoReboot())
	defer vm.Kill()
	a := memoryAttempt{MiB: mib}
	e, err := vm.WaitEvent(ctx, qemu.Any(qemu.Match(events.TypeBoot, "machined", events.StateReady), qemu.Match(events.TypeBoot, "machined", events.StateFailed)))
	switch {
	case err != nil:
		a.Error = fmt.Sprintf("%v (serial %s)", err, vm.LogPath())
	case e.State != events.StateReady:
		a.Error = e.Error
	default:
		a.Ready = true
		a.MemTotal, _ = strconv.ParseInt(e.Fields["memTotal"], 10, 64)
		a.MemUsed, _ = strconv.ParseInt(e.Fields["memUsed"], 10, 64)
		a.MachinedRSS, _ = strconv.ParseInt(e.Fields["machinedRSS"], 10, 64)
	}
	return a
}
