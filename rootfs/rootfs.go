// Package rootfs assembles Kiln's root filesystem and initramfs: the tree (os-release, the
// CA bundle, the container runtime, the Kubernetes payload's pin, empty mount points, and
// an empty /sbin/init) packed as
// squashfs, and the initramfs (/init = machined, /rootfs.sqsh, /dev/console) as a zstd
// newc cpio. machined is in the image once, as /init: stage 1 binds it over the root's
// /sbin/init (initd/stage1).
//
// It is builder-side. Every entry is owned by root and stamped with SOURCE_DATE_EPOCH; the
// writers (rootfs/squashfs, rootfs/cpio) sort entries, so the same inputs give the same bytes.
package rootfs

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/kiln-os/kiln/internal/atomicfile"
	"github.com/kiln-os/kiln/internal/kubepayload"
	"github.com/kiln-os/kiln/rootfs/cpio"
	"github.com/kiln-os/kiln/rootfs/squashfs"
)

// BlockSize is the root squashfs's data block size.
const BlockSize = 1 << 20

// DefaultCABundle is Debian's CA bundle (package ca-certificates), copied into the image.
const DefaultCABundle = "/etc/ssl/certs/ca-certificates.crt"

// MountPoints are the empty directories of the read-only root that early boot mounts over.
var MountPoints = []struct {
	Path string
	Mode fs.FileMode
}{
	{"dev", 0o755}, {"proc", 0o555}, {"sys", 0o555}, {"run", 0o755}, {"system", 0o700},
	{"tmp", fs.ModeSticky | 0o777}, {"var", 0o755}, {"mnt", 0o755},
}

// Tree is the content of the root filesystem.
type Tree struct {
	OSRelease []byte
	// CABundle is the path of the PEM bundle installed as /etc/ssl/certs/ca-certificates.crt.
	CABundle string
	// ESPPayload is every file of a fresh ESP but the UKI (signed systemd-boot, loader.conf,
	// the enrolment .auth files), installed under ESPPayloadDir at its ESP path. They are
	// public and signed or authenticated; carrying them in the signed root means an
	// installer needs nothing from the network but the UKI (DESIGN.md "Upgrade, rollback,
	// install").
	ESPPayload []File
	// Runtime is the container runtime; nil leaves it out.
	Runtime *Runtime
	// KubernetesPin is the Kubernetes payload's pin (kubepayload.Pin as JSON), installed at
	// kubepayload.PinPath beside the payload's empty mount point; nil leaves both out.
	KubernetesPin []byte
}

// Runtime is the container runtime's files on the build host. Containerd, the multi-call
// binary of containerd and its runc v2 shim, becomes /usr/bin/containerd and, as a hard
// link to the same inode, /usr/bin/containerd-shim-runc-v2: the binary picks the program
// by the name it was started by, and a hard link keeps that name through the shim's
// re-exec of /proc/self/exe, where a symlink would resolve to containerd. Runc becomes
// /usr/bin/runc (containerd finds the shim, and the shim runc, on PATH), Config
// /etc/containerd/config.toml.
type Runtime struct {
	Containerd, Runc, Config string
}

// ShimPath is where the root holds the shim's name for the containerd binary, without the
// leading slash.
const ShimPath = "usr/bin/containerd-shim-runc-v2"

// RuntimeConfigPath is where the root holds containerd's config, without the leading slash.
const RuntimeConfigPath = "etc/containerd/config.toml"

const containerdPath = "usr/bin/containerd"

// runtimeFile is one file of the runtime: its path in the root, its mode, and where it is
// on the build host.
type runtimeFile struct {
	Path string
	Mode fs.FileMode
	Src  string
}

func (r Runtime) files() []runtimeFile {
	return []runtimeFile{
		{containerdPath, 0o755, r.Containerd},
		{"usr/bin/runc", 0o755, r.Runc},
		{RuntimeConfigPath, 0o644, r.Config},
	}
}

// ESPPayloadDir is where the root holds the ESP payload (Tree.ESPPayload), without the
// leading slash.
const ESPPayloadDir = "usr/lib/kiln/esp"

// File is one file of the ESP payload: its path on the ESP, and its content.
type File struct {
	Path string
	Data []byte
}

// OSRelease renders /etc/os-release (os-release(5)).
func OSRelease(name, version string) []byte {
	return fmt.Appendf(nil, `NAME="Kiln"
ID=%s
VERSION_ID=%s
PRETTY_NAME="Kiln %s"
HOME_URL="https://github.com/kiln-os/kiln"
`, name, version, version)
}

// passwd, group and hosts are the root's /etc/passwd, /etc/group and /etc/hosts
// (passwd(5), group(5), hosts(5)).
const (
	passwd = "root:x:0:0:root:/:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n"
	group  = "root:x:0:\nnogroup:x:65534:\n"
	hosts  = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
)

// WriteSquashfs writes the tree as a squashfs image to path (atomically) and returns
// each regular file's share of the image, largest first (squashfs.Writer.Stored), for the
// build's size report.
func (t Tree) WriteSquashfs(path string, mtime time.Time) ([]squashfs.FileStored, error) {
	ca, err := os.ReadFile(t.CABundle)
	if err != nil {
		return nil, err
	}
	var img bytes.Buffer
	// 1 MiB blocks, squashfs's largest: the root is mostly large binaries read whole,
	// and bigger blocks compress them 4 % smaller than 128 KiB ones (rootfs.BlockSize).
	w := squashfs.NewWriter(&img, squashfs.Options{Compression: squashfs.ZSTD, BlockSize: BlockSize, ModTime: mtime})
	w.AddDir(".", 0o755)
	for _, mp := range MountPoints {
		w.AddDir(mp.Path, mp.Mode)
	}
	for _, d := range []string{"sbin", "etc", "etc/ssl", "etc/ssl/certs", "usr", "usr/lib"} {
		w.AddDir(d, 0o755)
	}
	// An empty file: stage 1 binds machined, the initramfs's /init, over it
	// (initd/stage1), so that the image holds machined once.
	w.AddFile("sbin/init", 0o755, bytes.NewReader(nil))
	w.AddFile("usr/lib/os-release", 0o644, bytes.NewReader(t.OSRelease))
	w.AddSymlink("etc/os-release", "../usr/lib/os-release")
	// The root is read-only; machined writes the resolvers it learns to a tmpfs readable by
	// every user (/system is root-only).
	w.AddSymlink("etc/resolv.conf", "/run/kiln/resolv.conf")
	// The users of the node: programs that look users up (the kubelet maps user
	// namespaces from them) find root and nobody; machined's service users are not
	// login users and are not listed.
	w.AddFile("etc/passwd", 0o644, bytes.NewReader([]byte(passwd)))
	w.AddFile("etc/group", 0o644, bytes.NewReader([]byte(group)))
	// The names every host has for loopback (hosts(5)); the CRI containerd copies the
	// host's file into each pod sandbox.
	w.AddFile("etc/hosts", 0o644, bytes.NewReader([]byte(hosts)))
	w.AddFile("etc/ssl/certs/ca-certificates.crt", 0o644, bytes.NewReader(ca))
	if t.Runtime != nil {
		w.AddDir("usr/bin", 0o755)
		w.AddDir("etc/containerd", 0o755)
		for _, f := range t.Runtime.files() {
			data, err := os.ReadFile(f.Src)
			if err != nil {
				return nil, fmt.Errorf("rootfs: runtime: %w", err)
			}
			w.AddFile(f.Path, f.Mode, bytes.NewReader(data))
		}
		w.AddLink(ShimPath, containerdPath)
	}
	if t.KubernetesPin != nil {
		w.AddDir(kubepayload.MountPoint, 0o755)
		w.AddFile(kubepayload.PinPath, 0o644, bytes.NewReader(t.KubernetesPin))
	}
	for _, f := range t.ESPPayload {
		if !fs.ValidPath(f.Path) || f.Path == "." {
			return nil, fmt.Errorf("rootfs: ESP payload path %q is not a clean relative path", f.Path)
		}
		w.AddFile(ESPPayloadDir+"/"+f.Path, 0o644, bytes.NewReader(f.Data))
	}
	if err := w.Close(); err != nil { // the writer's error is sticky: Close reports the first
		return nil, fmt.Errorf("rootfs: %w", err)
	}
	return w.Stored(), atomicfile.Write(path, img.Bytes(), 0o644)
}

// WriteInitramfs writes the initramfs to path: /init (machined), /rootfs.sqsh, the console
// device the kernel opens for /init's stdio, and the mount points stage 1 uses, as two newc
// cpio archives back to back, which the kernel's buffer format allows (Documentation/
// driver-api/early-userspace/buffer-format.rst):
//   - everything but the squashfs, zstd-compressed (CONFIG_RD_ZSTD);
//   - /rootfs.sqsh, uncompressed: the squashfs is compressed already, and a second pass
//     saves under 1 % of it for half a second of every build and a decompression at boot.
//
// Zeros pad the first to a multiple of 4 bytes: the kernel takes an uncompressed archive
// only at such an offset, and skips zeros between archives (init/initramfs.c,
// unpack_to_rootfs).
func WriteInitramfs(path, machined, rootfsImage string, mtime time.Time) error {
	initBin, err := os.ReadFile(machined)
	if err != nil {
		return err
	}
	sqsh, err := os.ReadFile(rootfsImage)
	if err != nil {
		return err
	}
	var boot bytes.Buffer
	w := cpio.NewWriter(&boot, cpio.Options{ModTime: mtime})
	w.AddDir("dev", 0o755)
	w.AddCharDev("dev/console", 0o600, 5, 1)
	w.AddDir("newroot", 0o755)
	w.AddDir("proc", 0o555)
	w.AddDir("sys", 0o555)
	w.AddFile("init", 0o755, initBin)
	if err := w.Close(); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	out, err := compressZstd(boot.Bytes())
	if err != nil {
		return err
	}
	out = append(out, make([]byte, (4-len(out)%4)%4)...)
	root := bytes.NewBuffer(out)
	w = cpio.NewWriter(root, cpio.Options{ModTime: mtime})
	w.AddFile("rootfs.sqsh", 0o444, sqsh)
	if err := w.Close(); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	return atomicfile.Write(path, root.Bytes(), 0o644)
}

// initramfsWindow is the zstd window of the initramfs: the kernel's decompressor
// (lib/decompress_unzstd.c) allocates a buffer of the window size the frame declares, and
// machined compresses about 10 % smaller with 8 MiB than with 1 MiB.
const initramfsWindow = 8 << 20

// compressZstd compresses deterministically: one goroutine, fixed level, no dictionary. The
// checksum lets the kernel's decompressor catch a corrupt initramfs.
func compressZstd(data []byte) ([]byte, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedBestCompression),
		zstd.WithEncoderCRC(true), zstd.WithWindowSize(initramfsWindow))
	if err != nil {
		return nil, err
	}
	defer enc.Close()
	return enc.EncodeAll(data, nil), nil
}
