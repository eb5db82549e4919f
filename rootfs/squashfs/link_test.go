package squashfs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// hardLinkImage holds a multi-block file with a tail fragment, with two hard links: one in
// a directory walked before the file's (so the inode is written at a link) and one beside
// it. It returns the image and the file's content.
func hardLinkImage(t *testing.T, opts Options) ([]byte, []byte) {
	t.Helper()
	data := bytes.Repeat([]byte("multi-call binary "), 20000) // 360,000 bytes: 2 blocks and a tail
	var buf bytes.Buffer
	w := NewWriter(&buf, opts)
	w.AddLink("aaa/shim", "usr/bin/containerd") // before its target: resolved at Close
	w.AddFile("usr/bin/containerd", 0o755, bytes.NewReader(data))
	w.AddLink("usr/bin/containerd-shim-runc-v2", "usr/bin/containerd")
	w.AddFile("usr/bin/runc", 0o755, bytes.NewReader([]byte("runc")))
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return buf.Bytes(), data
}

// TestUnsquashfsHardLinks has unsquashfs extract an image with hard links: every name
// reads the file's bytes, and all three are one inode with a link count of 3.
func TestUnsquashfsHardLinks(t *testing.T) {
	requireUnsquashfs(t)
	for _, opts := range []Options{{ModTime: testTime}, {ModTime: testTime, Compression: GZIP, BlockSize: 4096}} {
		img, data := hardLinkImage(t, opts)
		dir := filepath.Join(t.TempDir(), "root")
		unsquashfs(t, "-no-progress", "-quiet", "-d", dir, writeTemp(t, img))
		var inodes []uint64
		for _, name := range []string{"usr/bin/containerd", "usr/bin/containerd-shim-runc-v2", "aaa/shim"} {
			p := filepath.Join(dir, name)
			if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, data) {
				t.Errorf("%v: %s: content differs (%d bytes read, err %v)", opts.Compression, name, len(got), err)
			}
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			st := fi.Sys().(*syscall.Stat_t)
			if st.Nlink != 3 || fi.Mode() != 0o755 {
				t.Errorf("%v: %s: nlink %d mode %v, want 3 and -rwxr-xr-x", opts.Compression, name, st.Nlink, fi.Mode())
			}
			inodes = append(inodes, st.Ino)
		}
		if inodes[0] != inodes[1] || inodes[0] != inodes[2] {
			t.Errorf("%v: inodes %v, want one", opts.Compression, inodes)
		}
		runc, err := os.Stat(filepath.Join(dir, "usr/bin/runc"))
		if err != nil || runc.Sys().(*syscall.Stat_t).Nlink != 1 {
			t.Errorf("%v: runc: %v, want a link count of 1", opts.Compression, err)
		}
	}
}

// TestHardLinkInodes checks the image's inode count: a file with links is one inode.
func TestHardLinkInodes(t *testing.T) {
	img, _ := hardLinkImage(t, Options{ModTime: testTime})
	// root, aaa, usr, usr/bin, the file, runc.
	if got := le.Uint32(img[4:]); got != 6 {
		t.Errorf("superblock inode count %d, want 6", got)
	}
}

func TestHardLinkErrors(t *testing.T) {
	for _, tc := range []struct {
		name, link, target string
		want               error
	}{
		{"missing target", "bin/a", "bin/missing", ErrLink},
		{"directory target", "bin/a", "etc", ErrLink},
		{"symlink target", "bin/a", "etc/os-release", ErrLink},
		{"link to a link", "bin/a", "bin/sh", ErrLink},
		{"through a file", "bin/a", "bin/busybox/x", ErrLink},
		{"bad target path", "bin/a", "../etc", ErrPath},
		{"taken name", "bin/busybox", "bin/busybox", ErrExist},
	} {
		var buf bytes.Buffer
		w := NewWriter(&buf, Options{ModTime: testTime})
		w.AddFile("bin/busybox", 0o755, bytes.NewReader([]byte("x")))
		w.AddLink("bin/sh", "bin/busybox")
		w.AddDir("etc", 0o755)
		w.AddSymlink("etc/os-release", "../usr/lib/os-release")
		w.AddLink(tc.link, tc.target)
		if err := w.Close(); !errors.Is(err, tc.want) {
			t.Errorf("%s: Close = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// A hard link may be added before or after its target: the image is the same.
func TestHardLinkOrderIndependent(t *testing.T) {
	build := func(linkFirst bool) []byte {
		var buf bytes.Buffer
		w := NewWriter(&buf, Options{ModTime: testTime})
		if linkFirst {
			w.AddLink("usr/bin/sh", "usr/bin/busybox")
		}
		w.AddFile("usr/bin/busybox", 0o755, bytes.NewReader([]byte("busybox")))
		if !linkFirst {
			w.AddLink("usr/bin/sh", "usr/bin/busybox")
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	if !bytes.Equal(build(true), build(false)) {
		t.Error("the image depends on whether the link was added before its target")
	}
}
