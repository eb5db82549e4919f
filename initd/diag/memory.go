package diag

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kiln-os/kiln/api/machine"
)

// Memory reads r.Proc/meminfo; every value it reports is in bytes.
func (r Roots) Memory() (*machine.MemoryResponse, error) {
	path := filepath.Join(r.Proc, "meminfo")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	kb := map[string]uint64{}
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		key, value, ok := strings.Cut(line, ":")
		fields := strings.Fields(value)
		if !ok || len(fields) == 0 {
			return nil, fmt.Errorf("%s line %d: %q is not \"Key: value kB\"", path, i+1, line)
		}
		v, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s line %d (%s): %w", path, i+1, key, err)
		}
		kb[key] = v * 1024
	}
	if _, ok := kb["MemTotal"]; !ok {
		return nil, fmt.Errorf("%s has no MemTotal line", path)
	}
	return &machine.MemoryResponse{
		Total: kb["MemTotal"], Free: kb["MemFree"], Available: kb["MemAvailable"],
		Buffers: kb["Buffers"], Cached: kb["Cached"], Shmem: kb["Shmem"],
		SwapTotal: kb["SwapTotal"], SwapFree: kb["SwapFree"],
	}, nil
}
