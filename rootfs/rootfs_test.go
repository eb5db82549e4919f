package rootfs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/kiln-os/kiln/internal/oracle"
)

var epoch = time.Unix(1700000000, 0)

func fakeInputs(t *testing.T) (dir, machined, ca string) {
	dir = t.TempDir()
	machined = filepath.Join(dir, "machined")
	ca = filepath.Join(dir, "ca.pem")
	os.WriteFile(machined, bytes.Repeat([]byte("\x7fELF machined "), 20000), 0o755)
	os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\n...\n"), 0o644)
	return dir, machined, ca
}

// fakeRuntime writes stand-ins for the container runtime's files into dir.
func fakeRuntime(t *testing.T, dir string) *Runtime {
	r := &Runtime{}
	for _, f := range []struct {
		dst  *string
		name string
	}{{&r.Containerd, "containerd"}, {&r.Runc, "runc"}, {&r.Config, "config.toml"}} {
		*f.dst = filepath.Join(dir, f.name)
		if err := os.WriteFile(*f.dst, []byte("fake "+f.name+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func buildImages(t *testing.T) (sqsh, initramfs string) {
	dir, machined, ca := fakeInputs(t)
	tree := Tree{OSRelease: OSRelease("kiln", "1.2.3"), CABundle: ca, Runtime: fakeRuntime(t, dir),
		ESPPayload: []File{{Path: "EFI/BOOT/BOOTX64.EFI", Data: []byte("MZ systemd-boot")}, {Path: "loader/loader.conf", Data: []byte("timeout 0\n")}}}
	sqsh = filepath.Join(dir, "rootfs.sqsh")
	if _, err := tree.WriteSquashfs(sqsh, epoch); err != nil {
		t.Fatal(err)
	}
	initramfs = filepath.Join(dir, "initramfs.cpio.zst")
	if err := WriteInitramfs(initramfs, machined, sqsh, epoch); err != nil {
		t.Fatal(err)
	}
	return sqsh, initramfs
}

// The root holds the shim's name as a hard link to /usr/bin/containerd: unsquashfs
// extracts one inode with a link count of 2 and the binary's bytes under both names.
func TestRootfsShimIsHardLink(t *testing.T) {
	oracle.Require(t, "unsquashfs", "squashfs-tools")
	sqsh, _ := buildImages(t)
	dir := filepath.Join(t.TempDir(), "root")
	if out, err := exec.Command("unsquashfs", "-no-progress", "-quiet", "-d", dir, sqsh).CombinedOutput(); err != nil {
		t.Fatalf("unsquashfs: %v\n%s", err, out)
	}
	var inodes []uint64
	for _, name := range []string{"usr/bin/containerd", ShimPath} {
		p := filepath.Join(dir, name)
		data, err := os.ReadFile(p)
		if err != nil || string(data) != "fake containerd\n" {
			t.Errorf("%s: %q, %v; want the containerd binary", name, data, err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Nlink != 2 {
			t.Errorf("%s: link count %d, want 2", name, st.Nlink)
		}
		inodes = append(inodes, st.Ino)
	}
	if inodes[0] != inodes[1] {
		t.Errorf("containerd and the shim are inodes %d and %d, want one", inodes[0], inodes[1])
	}
}

// unsquashfs -lls reads the root tree back with the expected entries, modes and owners.
func TestRootfsOracleUnsquashfs(t *testing.T) {
	oracle.Require(t, "unsquashfs", "squashfs-tools")
	sqsh, _ := buildImages(t)
	out, err := exec.Command("unsquashfs", "-lls", "-n", sqsh).CombinedOutput()
	if err != nil {
		t.Fatalf("unsquashfs: %v\n%s", err, out)
	}
	listing := string(out)
	want := map[string]string{
		"squashfs-root/sbin/init":                             "-rwxr-xr-x root/root",
		"squashfs-root/etc/ssl/certs/ca-certificates.crt":     "-rw-r--r-- root/root",
		"squashfs-root/usr/lib/os-release":                    "-rw-r--r-- root/root",
		"squashfs-root/etc/os-release":                        "lrwxrwxrwx root/root",
		"squashfs-root/tmp":                                   "drwxrwxrwt root/root",
		"squashfs-root/system":                                "drwx------ root/root",
		"squashfs-root/proc":                                  "dr-xr-xr-x root/root",
		"squashfs-root/usr/lib/kiln/esp/EFI/BOOT/BOOTX64.EFI": "-rw-r--r-- root/root",
		"squashfs-root/usr/lib/kiln/esp/loader/loader.conf":   "-rw-r--r-- root/root",
		"squashfs-root/usr/bin/containerd":                    "-rwxr-xr-x root/root",
		"squashfs-root/usr/bin/containerd-shim-runc-v2":       "-rwxr-xr-x root/root",
		"squashfs-root/usr/bin/runc":                          "-rwxr-xr-x root/root",
		"squashfs-root/etc/containerd/config.toml":            "-rw-r--r-- root/root",
		"squashfs-root/etc/containerd":                        "drwxr-xr-x root/root",
		"squashfs-root/usr/bin":                               "drwxr-xr-x root/root",
	}
	for path, prefix := range want {
		found := false
		for _, line := range strings.Split(listing, "\n") {
			if strings.HasSuffix(line, " "+path) || strings.Contains(line, " "+path+" -> ") {
				found = true
				if !strings.HasPrefix(line, prefix) {
					t.Errorf("%s: %q, want prefix %q", path, line, prefix)
				}
				if !strings.Contains(line, "2023-11-14 22:13") {
					t.Errorf("%s: mtime not SOURCE_DATE_EPOCH: %q", path, line)
				}
			}
		}
		if !found {
			t.Errorf("%s missing from:\n%s", path, listing)
		}
	}
	for _, line := range strings.Split(listing, "\n") {
		if f := strings.Fields(line); len(f) == 6 && f[5] == "squashfs-root/sbin/init" && f[2] != "0" {
			t.Errorf("/sbin/init holds %s bytes: machined belongs in the initramfs only (stage 1 binds it over)", f[2])
		}
	}
	for _, mp := range MountPoints {
		if !strings.Contains(listing, "squashfs-root/"+mp.Path+"\n") {
			t.Errorf("mount point /%s missing", mp.Path)
		}
	}
}

// splitInitramfs splits the initramfs as the kernel reads it: a zstd-compressed archive,
// zeros up to a 4-byte boundary, then an uncompressed one. It returns both archives.
func splitInitramfs(t *testing.T, data []byte) (first, second []byte) {
	t.Helper()
	dec, _ := zstd.NewReader(nil)
	for i := 4; i+6 <= len(data); i += 4 {
		if string(data[i:i+6]) != "070701" {
			continue
		}
		if first, err := dec.DecodeAll(bytes.TrimRight(data[:i], "\x00"), nil); err == nil {
			return first, data[i:]
		}
	}
	t.Fatal("the initramfs is not a zstd archive followed by an uncompressed one at a 4-byte boundary")
	return nil, nil
}

// cpio -t reads both archives of the initramfs back: /init, the mount points and
// /dev/console compressed, then /rootfs.sqsh as it is.
func TestInitramfsOracleCpio(t *testing.T) {
	oracle.Require(t, "cpio", "cpio")
	sqsh, initramfs := buildImages(t)
	data, _ := os.ReadFile(initramfs)
	first, second := splitInitramfs(t, data)
	list := func(archive []byte) []string {
		cmd := exec.Command("cpio", "-itv", "--quiet", "--numeric-uid-gid")
		cmd.Stdin = bytes.NewReader(archive)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("cpio: %v\n%s", err, out)
		}
		return strings.Split(strings.TrimSpace(string(out)), "\n")
	}
	lines := append(list(first), list(second)...)
	want := map[string]string{"init": "-rwxr-xr-x", "rootfs.sqsh": "-r--r--r--", "dev/console": "crw-------", "newroot": "drwxr-xr-x", "dev": "drwxr-xr-x"}
	if len(lines) != 7 || !strings.HasSuffix(lines[6], " rootfs.sqsh") {
		t.Errorf("cpio lists %d entries, want 7 with rootfs.sqsh alone in the second archive:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for _, line := range lines {
		f := strings.Fields(line)
		name := f[len(f)-1]
		if mode, ok := want[name]; ok && f[0] != mode {
			t.Errorf("%s mode %s, want %s", name, f[0], mode)
		}
		if f[2] != "0" || f[3] != "0" {
			t.Errorf("%s owned by %s:%s, want 0:0", name, f[2], f[3])
		}
	}
	// /rootfs.sqsh inside is the squashfs byte for byte.
	extract := exec.Command("cpio", "-i", "--quiet", "--to-stdout", "rootfs.sqsh")
	extract.Stdin = bytes.NewReader(second)
	got, err := extract.Output()
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := os.ReadFile(sqsh); !bytes.Equal(got, want) {
		t.Error("rootfs.sqsh in the initramfs differs from the squashfs")
	}
}

func TestImagesAreReproducible(t *testing.T) {
	sqsh1, init1 := buildImages(t)
	sqsh2, init2 := buildImages(t)
	for _, pair := range [][2]string{{sqsh1, sqsh2}, {init1, init2}} {
		a, _ := os.ReadFile(pair[0])
		b, _ := os.ReadFile(pair[1])
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two builds", filepath.Base(pair[0]))
		}
	}
}

// A payload path that is not clean and relative is refused, naming it: it would land
// outside the payload folder.
func TestRootfsRefusesUncleanESPPayloadPath(t *testing.T) {
	dir, _, ca := fakeInputs(t)
	for _, bad := range []string{"../etc/passwd", "/loader/loader.conf", "loader//x", "."} {
		tree := Tree{OSRelease: OSRelease("kiln", "1"), CABundle: ca, ESPPayload: []File{{Path: bad, Data: []byte("x")}}}
		_, err := tree.WriteSquashfs(filepath.Join(dir, "r.sqsh"), epoch)
		if err == nil || !strings.Contains(err.Error(), strconv.Quote(bad)) {
			t.Errorf("payload path %q: %v, want an error naming it", bad, err)
		}
	}
}

// The runtime's files land in the squashfs at their paths with their modes (whatever the
// modes on the build host), byte for byte; a missing one fails the build, naming it.
func TestRootfsRuntimeFiles(t *testing.T) {
	oracle.Require(t, "unsquashfs", "squashfs-tools")
	dir, _, ca := fakeInputs(t)
	runtime := fakeRuntime(t, dir)
	tree := Tree{OSRelease: OSRelease("kiln", "1"), CABundle: ca, Runtime: runtime}
	sqsh := filepath.Join(dir, "rootfs.sqsh")
	if _, err := tree.WriteSquashfs(sqsh, epoch); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "root")
	if msg, err := exec.Command("unsquashfs", "-n", "-d", out, sqsh).CombinedOutput(); err != nil {
		t.Fatalf("unsquashfs: %v\n%s", err, msg)
	}
	for _, f := range runtime.files() {
		info, err := os.Lstat(filepath.Join(out, f.Path))
		if err != nil {
			t.Errorf("/%s: %v", f.Path, err)
			continue
		}
		if info.Mode() != f.Mode {
			t.Errorf("/%s mode %v, want %v", f.Path, info.Mode(), f.Mode)
		}
		got, _ := os.ReadFile(filepath.Join(out, f.Path))
		if want, _ := os.ReadFile(f.Src); !bytes.Equal(got, want) {
			t.Errorf("/%s = %q, want %q", f.Path, got, want)
		}
	}
	missing := *runtime
	missing.Runc = filepath.Join(dir, "no-runc")
	tree.Runtime = &missing
	if _, err := tree.WriteSquashfs(filepath.Join(dir, "r2.sqsh"), epoch); err == nil || !strings.Contains(err.Error(), "no-runc") {
		t.Errorf("missing runc: %v, want an error naming it", err)
	}
}
