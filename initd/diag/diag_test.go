package diag

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/api/machine"
)

var fixture = Roots{Proc: "testdata/proc", Sys: "testdata/sys", Users: map[uint32]string{50: "apid"}, ESPLabel: "EFI"}

func TestProcesses(t *testing.T) {
	procs, err := fixture.Processes()
	if err != nil {
		t.Fatal(err)
	}
	if len(procs) != 3 {
		t.Fatalf("got %d processes, want 3: %v", len(procs), procs)
	}
	init, kthread, apid := procs[0], procs[1], procs[2]
	if init.Pid != 1 || init.Command != "/sbin/init" || init.User != "root" || init.State != "S" || init.CpuSeconds != 2 || init.Threads != 9 { // hostdeps:node
		t.Errorf("pid 1 = %v", init)
	}
	if init.RssBytes != 4000*pageSize {
		t.Errorf("pid 1 rss = %d, want %d", init.RssBytes, 4000*pageSize)
	}
	if kthread.Command != "[kthreadd]" {
		t.Errorf("a kernel thread's command = %q, want [kthreadd]", kthread.Command)
	}
	// "(apid (x))": the fields count from the last ')'.
	if apid.Pid != 412 || apid.Ppid != 1 || apid.User != "apid" || apid.Uid != 50 || apid.State != "R" || apid.CpuSeconds != 2.75 ||
		apid.Command != "/usr/bin/apid --port 50000" {
		t.Errorf("apid = %v", apid)
	}
}

func TestParseStatRejectsGarbage(t *testing.T) {
	for _, bad := range []string{"", "1 machined S", "x (a) S 1 2", "1 (a) S 1 2 3"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q) = nil error", bad)
		}
	}
}

func TestMemory(t *testing.T) {
	m, err := fixture.Memory()
	if err != nil {
		t.Fatal(err)
	}
	if m.Total != 2000000*1024 || m.Available != 1700000*1024 || m.Cached != 200000*1024 || m.Shmem != 4000*1024 {
		t.Errorf("memory = %v", m)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "meminfo"), []byte("MemFree: 12 kB\nGarbage\n"), 0o644)
	if _, err := (Roots{Proc: dir}).Memory(); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad meminfo: err = %v, want one naming line 2", err)
	}
}

func TestMounts(t *testing.T) {
	mounts, err := fixture.Mounts()
	if err != nil {
		t.Fatal(err)
	}
	byPoint := map[string]*machine.MountInfo{}
	for _, m := range mounts {
		byPoint[m.MountPoint] = m
	}
	root := byPoint["/"]
	if root == nil || root.FsType != "squashfs" || !root.ReadOnly || root.Source != "/dev/loop0" {
		t.Errorf("/ = %v", root)
	}
	proc := byPoint["/proc"]
	if proc == nil || proc.ReadOnly || strings.Join(proc.Options, ",") != "rw,nosuid,nodev,noexec,relatime" || proc.FsType != "proc" {
		t.Errorf("/proc (with an optional field) = %v", proc)
	}
	if byPoint["/run/with space"] == nil {
		t.Errorf("the \\040 escape was not undone: %v", mounts)
	}
	if _, err := parseMountinfo("22 1 7:0 / / ro"); err == nil {
		t.Error("a mountinfo line without \"-\" parsed")
	}
}

func TestDisks(t *testing.T) {
	disks, err := fixture.Disks()
	if err != nil {
		t.Fatal(err)
	}
	if len(disks) != 2 {
		t.Fatalf("got %d disks, want vda and vdb (loop0 has no size): %v", len(disks), disks)
	}
	vda, vdb := disks[0], disks[1]
	if vda.Name != "vda" || !vda.Boot || vda.SizeBytes != 41943040*512 || vda.Model != "QEMU HARDDISK" || len(vda.Partitions) != 2 {
		t.Fatalf("vda = %v", vda)
	}
	if p := vda.Partitions[0]; p.Name != "vda1" || p.Label != "EFI" || p.Number != 1 || p.SizeBytes != 204800*512 {
		t.Errorf("vda1 = %v", p)
	}
	if vdb.Boot || !vdb.ReadOnly {
		t.Errorf("vdb = %v, want not boot, read-only", vdb)
	}
	other := fixture
	other.ESPLabel = "NOPE"
	disks, _ = other.Disks()
	for _, d := range disks {
		if d.Boot {
			t.Errorf("%s is marked boot without a partition named NOPE", d.Name)
		}
	}
}

func TestNetstat(t *testing.T) {
	socks, err := fixture.Netstat()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"tcp 0.0.0.0:50000 0.0.0.0:0 LISTEN 412 apid",
		"tcp 10.0.2.15:50000 10.0.2.2:54321 ESTABLISHED 0 ",
		"tcp6 [::1]:50001 [::]:0 LISTEN 0 ",
		"udp 10.0.2.15:68 0.0.0.0:0 UNCONN 0 ",
		"unix /run/kiln/machined.sock  LISTEN 1 machined",
		"unix   CONNECTED 0 ",
	}
	var got []string
	for _, s := range socks {
		got = append(got, strings.Join([]string{s.Protocol, s.Local, s.Remote, s.State, itoa(s.Pid), s.Process}, " "))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("sockets:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, bad := range []string{"0100007F", "0100007F:XYZ", "01007F:0050"} {
		if _, err := hexAddrPort(bad); err == nil {
			t.Errorf("hexAddrPort(%q) = nil error", bad)
		}
	}
}

func itoa(i int32) string { return strconv.Itoa(int(i)) }

// filesRoot is a node tree: readable files, STATE's secrets, /run/kiln, and links that
// lead into them.
func filesRoot(t *testing.T) Roots {
	dir := t.TempDir()
	write := func(name, data string) {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("etc/os-release", "ID=kiln\n")
	write("system/state/config.yaml", "token: SECRET\n")
	write("system/state/pki/os.key", "KEY\n")
	write("run/kiln/apid/api.key", "KEY\n")
	write("var/big", strings.Repeat("x", MaxRead+1))
	write("var/exact", strings.Repeat("x", MaxRead))
	link := func(target, name string) {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	link("../system/state", "var/state-link")
	link("../run/kiln/apid/api.key", "var/key-link")
	link("../system", "var/system-link")
	link("os-release", "etc/release-link")
	link("/etc/os-release", "etc/absolute-link")  // absolute: resolved in the root (hostdeps:node)
	link("/system/state", "var/absolute-state")   // absolute, into STATE
	link("../../../../system/state", "var/climb") // ".." past the root stays at the root
	return Roots{Files: dir}
}

func TestReadFile(t *testing.T) {
	r := filesRoot(t)
	data, err := r.ReadFile("/etc/release-link") // hostdeps:node
	if err != nil || string(data) != "ID=kiln\n" {
		t.Fatalf("ReadFile(/etc/release-link) = %q, %v", data, err)
	}
	if data, err := r.ReadFile("/etc/absolute-link"); err != nil || string(data) != "ID=kiln\n" { // hostdeps:node
		t.Errorf("an absolute link inside the root: %q, %v", data, err)
	}
	if data, err := r.ReadFile("/var/exact"); err != nil || len(data) != MaxRead {
		t.Errorf("a file of exactly MaxRead: %d bytes, %v", len(data), err)
	}
	if _, err := r.ReadFile("/var/big"); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "1 MiB") {
		t.Errorf("a file over 1 MiB: err = %v, want ErrTooLarge naming 1 MiB", err)
	}
	if _, err := r.ReadFile("etc/os-release"); !errors.Is(err, ErrBadPath) {
		t.Errorf("a relative path: err = %v, want ErrBadPath", err)
	}
	if _, err := r.ReadFile("/etc"); !errors.Is(err, ErrBadPath) {
		t.Errorf("a directory: err = %v, want ErrBadPath", err)
	}
}

// TestFilesRefuseForbidden checks each rule, as named, through "..", and through a
// symlink (which only the check on the opened file can see).
func TestFilesRefuseForbidden(t *testing.T) {
	r := filesRoot(t)
	cases := []struct{ path, rule string }{
		{"/system/state/config.yaml", "/system/state is STATE"},
		{"/system/state", "/system/state is STATE"},
		{"/run/kiln/apid/api.key", "/run/kiln holds"},
		{"/var/../system/state/pki/os.key", "/system/state is STATE"},
		{"/etc/../run/kiln", "/run/kiln holds"}, // hostdeps:node
		{"/var/state-link/config.yaml", "resolves to /system/state/config.yaml"},
		{"/var/state-link", "resolves to /system/state"},
		{"/var/key-link", "resolves to /run/kiln/apid/api.key"},
		{"/var/system-link/state/pki/os.key", "resolves to /system/state/pki/os.key"},
		{"/var/absolute-state/config.yaml", "resolves to /system/state/config.yaml"},
		{"/var/climb/pki/os.key", "resolves to /system/state/pki/os.key"},
		{"/proc/1/mem", "memory"},
		{"/proc/self/task/1/environ", "environ"},
		{"/dev/mapper/kiln-state", "/dev holds"},
	}
	for _, c := range cases {
		_, readErr := r.ReadFile(c.path)
		_, listErr := r.ListFiles(c.path)
		for _, err := range []error{readErr, listErr} {
			if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), c.rule) {
				t.Errorf("%s: err = %v, want ErrForbidden naming %q", c.path, err, c.rule)
			}
		}
	}
}

// TestFilesRefuseMagicLinks: /proc/self/root is "/" to the kernel whatever the root
// diag was given; following it would leave the root.
func TestFilesRefuseMagicLinks(t *testing.T) {
	r := Roots{Files: "/"}
	for _, p := range []string{"/proc/self/root/etc/hostname", "/proc/self/fd/0"} {
		if _, err := r.ReadFile(p); !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "magic link") {
			t.Errorf("%s: err = %v, want ErrForbidden naming the magic link", p, err)
		}
	}
}

func TestListFiles(t *testing.T) {
	r := filesRoot(t)
	files, err := r.ListFiles("/var")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*machine.FileInfo{}
	for _, f := range files {
		got[f.Name] = f
	}
	if l := got["state-link"]; l == nil || l.Link != "../system/state" || !strings.HasPrefix(l.Mode, "L") {
		t.Errorf("state-link = %v: a listing shows a link without following it", l)
	}
	if b := got["big"]; b == nil || b.Size != MaxRead+1 || b.Mode != "-rw-------" {
		t.Errorf("big = %v", b)
	}
	if _, err := r.ListFiles("/etc/os-release"); !errors.Is(err, ErrBadPath) { // hostdeps:node
		t.Errorf("listing a file: err = %v, want ErrBadPath", err)
	}
	if _, err := r.ListFiles("/nope"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("listing a missing directory: err = %v, want not exist", err)
	}
}
