package machined

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/kiln-os/kiln/initd/resources"
)

// ProcessStatsInterval is how often machined republishes runtime/ProcessStats.
const ProcessStatsInterval = 5 * time.Second

// readProcessStats counts the descriptors open in fdDir (/proc/self/fd for PID 1) and
// reads the Go heap. The descriptor that reads fdDir is not counted.
func readProcessStats(fdDir string) (*resources.ProcessStatsSpec, error) {
	dir, err := os.Open(fdDir)
	if err != nil {
		return nil, fmt.Errorf("process stats: %w", err)
	}
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("process stats: %w", err)
	}
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	return &resources.ProcessStatsSpec{FDs: len(names) - 1, HeapAlloc: mem.HeapAlloc, HeapSys: mem.HeapSys,
		Goroutines: runtime.NumGoroutine()}, nil
}

// publishProcessStats keeps runtime/ProcessStats current until ctx ends.
func (m *Machined) publishProcessStats(ctx context.Context, fdDir string, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		stats, err := readProcessStats(fdDir)
		if err != nil {
			m.Log.WithError(err).Warn("process stats")
		} else {
			m.setResource(resources.NamespaceRuntime, resources.TypeProcessStats, resources.ProcessStatsID, stats)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
