package diag

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/kiln-os/kiln/api/machine"
)

// statsGroups are the cgroups Stats reads, below the cgroup2 root (initd/cgroup's
// layout): machined's leaf, then one folder per service and per container.
var statsGroups = []struct {
	kind string
	dir  string // a leaf, or a folder of leaves when each is true
	each bool
}{
	{"machined", "kiln/init", false},
	{"service", "kiln/services", true},
	{"container", "kiln/containers", true},
}

// Stats reads memory, CPU and process counts of machined, every service and every
// container from cgroup v2 (Documentation/admin-guide/cgroup-v2.rst: memory.current,
// memory.peak, memory.max, cpu.stat usage_usec, pids.current). A cgroup that vanishes
// while it is read (a service restarting) is left out; a file a cgroup lacks (the
// controller is not enabled there) reads as 0.
func (r Roots) Stats() ([]*machine.CgroupStats, error) {
	root := filepath.Join(r.Sys, "fs", "cgroup")
	var out []*machine.CgroupStats
	for _, g := range statsGroups {
		if !g.each {
			if s, err := readCgroupStats(root, g.dir); err == nil {
				s.Kind, s.Name = g.kind, path.Base(g.dir)
				out = append(out, s)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
			continue
		}
		entries, err := os.ReadDir(filepath.Join(root, g.dir))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			s, err := readCgroupStats(root, path.Join(g.dir, e.Name()))
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, err
			}
			s.Kind, s.Name = g.kind, e.Name()
			out = append(out, s)
		}
	}
	return out, nil
}

// readCgroupStats reads one cgroup; fs.ErrNotExist when the cgroup itself is gone.
func readCgroupStats(root, rel string) (*machine.CgroupStats, error) {
	dir := filepath.Join(root, rel)
	if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err != nil {
		return nil, err
	}
	s := &machine.CgroupStats{Cgroup: "/" + rel}
	var err error
	read := func(name string, into *uint64, parse func(string) (uint64, error)) {
		if err != nil {
			return
		}
		data, rerr := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(rerr, fs.ErrNotExist) {
			return
		}
		if rerr != nil {
			err = rerr
			return
		}
		v, perr := parse(strings.TrimSpace(string(data)))
		if perr != nil {
			err = fmt.Errorf("%s: %w", filepath.Join(dir, name), perr)
			return
		}
		*into = v
	}
	read("memory.current", &s.MemoryBytes, parseCount)
	read("memory.peak", &s.MemoryPeakBytes, parseCount)
	read("memory.max", &s.MemoryLimitBytes, parseLimit)
	read("cpu.stat", &s.CpuUsageUsec, parseUsage)
	read("pids.current", &s.Pids, parseCount)
	return s, err
}

func parseCount(s string) (uint64, error) { return strconv.ParseUint(s, 10, 64) }

// parseLimit reads a limit file: "max" is no limit (0).
func parseLimit(s string) (uint64, error) {
	if s == "max" {
		return 0, nil
	}
	return parseCount(s)
}

// parseUsage takes usage_usec from cpu.stat ("usage_usec 1234\nuser_usec ...").
func parseUsage(s string) (uint64, error) {
	for line := range strings.SplitSeq(s, "\n") {
		if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
			return parseCount(v)
		}
	}
	return 0, errors.New("no usage_usec line")
}
