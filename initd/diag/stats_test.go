package diag

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func writeCgroup(t *testing.T, root, rel string, files map[string]string) {
	t.Helper()
	dir := filepath.Join(root, "fs", "cgroup", rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files["cgroup.procs"] = ""
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStats(t *testing.T) {
	sys := t.TempDir()
	writeCgroup(t, sys, "kiln/init", map[string]string{"memory.current": "1000\n", "memory.max": "max\n", "cpu.stat": "usage_usec 77\nuser_usec 70\n", "pids.current": "9\n"})
	writeCgroup(t, sys, "kiln/services/apid", map[string]string{"memory.current": "2000\n", "memory.peak": "3000\n"})
	writeCgroup(t, sys, "kiln/containers/hello", map[string]string{"memory.current": "4096\n", "memory.max": "67108864\n", "pids.current": "3\n"})
	if err := os.MkdirAll(filepath.Join(sys, "fs", "cgroup", "kiln", "containers", "gone"), 0o755); err != nil { // no cgroup.procs: vanished
		t.Fatal(err)
	}
	got, err := Roots{Sys: sys}.Stats()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, s := range got {
		lines = append(lines, strings.Join([]string{s.Kind, s.Name, s.Cgroup}, " ")+" "+
			u64(s.MemoryBytes)+" "+u64(s.MemoryPeakBytes)+" "+u64(s.MemoryLimitBytes)+" "+u64(s.CpuUsageUsec)+" "+u64(s.Pids))
	}
	want := []string{
		"machined init /kiln/init 1000 0 0 77 9",
		"service apid /kiln/services/apid 2000 3000 0 0 0",
		"container hello /kiln/containers/hello 4096 0 67108864 0 3",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("Stats:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func TestStatsRejectsGarbage(t *testing.T) {
	sys := t.TempDir()
	writeCgroup(t, sys, "kiln/services/apid", map[string]string{"memory.current": "lots\n"})
	_, err := Roots{Sys: sys}.Stats()
	if err == nil || !strings.Contains(err.Error(), "kiln/services/apid/memory.current") {
		t.Errorf("Stats = %v, want an error naming the file", err)
	}
}

func u64(v uint64) string { return strconv.FormatUint(v, 10) }
