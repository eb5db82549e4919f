package diag

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/kiln-os/kiln/api/machine"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every Linux ABI Kiln
// builds for.
const clockTicks = 100

// pageSize is the unit of /proc/PID/stat's rss.
var pageSize = uint64(os.Getpagesize())

// Processes lists every process in r.Proc, by pid. A process that exits while it is
// read is left out.
func (r Roots) Processes() ([]*machine.ProcessInfo, error) {
	pids, err := r.pids()
	if err != nil {
		return nil, err
	}
	var out []*machine.ProcessInfo
	for _, pid := range pids {
		p, err := r.process(pid)
		if err != nil {
			continue // gone, or a fixture we cannot parse: one process does not hide the rest
		}
		out = append(out, p)
	}
	return out, nil
}

// pids are the numeric entries of r.Proc, sorted.
func (r Roots) pids() ([]int, error) {
	entries, err := os.ReadDir(r.Proc)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	sort.Ints(pids)
	return pids, nil
}

func (r Roots) process(pid int) (*machine.ProcessInfo, error) {
	dir := filepath.Join(r.Proc, strconv.Itoa(pid))
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return nil, err
	}
	p, err := parseStat(stat)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "stat"), err)
	}
	if status, err := os.ReadFile(filepath.Join(dir, "status")); err == nil {
		p.Uid = statusUID(status)
	}
	p.User = r.userName(p.Uid)
	if cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil && len(cmdline) > 0 {
		p.Command = strings.TrimSpace(string(bytes.ReplaceAll(bytes.TrimRight(cmdline, "\x00"), []byte{0}, []byte{' '})))
	}
	return p, nil
}

// parseStat reads /proc/PID/stat (proc(5)): the command sits in parentheses and may hold
// spaces and parentheses itself, so the fields are counted from the last ')'.
func parseStat(stat []byte) (*machine.ProcessInfo, error) {
	s := string(stat)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 1 || end < open {
		return nil, fmt.Errorf("no (comm) in %q", firstLine(s))
	}
	pid, err := strconv.Atoi(strings.TrimSpace(s[:open]))
	if err != nil {
		return nil, fmt.Errorf("pid %q: %w", s[:open], err)
	}
	rest := strings.Fields(s[end+1:])
	if len(rest) < 22 {
		return nil, fmt.Errorf("%d fields after the command, want at least 22", len(rest))
	}
	num := func(i int) uint64 { v, _ := strconv.ParseUint(rest[i], 10, 64); return v }
	ppid, _ := strconv.Atoi(rest[1])
	return &machine.ProcessInfo{
		Pid:        int32(pid),
		Ppid:       int32(ppid),
		State:      rest[0],
		CpuSeconds: float64(num(11)+num(12)) / clockTicks,
		Threads:    uint32(num(17)),
		RssBytes:   num(21) * pageSize,
		Command:    "[" + s[open+1:end] + "]",
	}, nil
}

// statusUID is the real uid of a /proc/PID/status.
func statusUID(status []byte) uint32 {
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "Uid:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				uid, _ := strconv.ParseUint(f[0], 10, 32)
				return uint32(uid)
			}
		}
	}
	return 0
}

func (r Roots) userName(uid uint32) string {
	if name, ok := r.Users[uid]; ok {
		return name
	}
	if uid == 0 {
		return "root"
	}
	return strconv.FormatUint(uint64(uid), 10)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	if len(line) > 80 {
		line = line[:80] + "…"
	}
	return line
}
