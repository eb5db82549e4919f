package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/internal/kubepayload"
	"github.com/kiln-os/kiln/rootfs"
)

const versionPkg = "github.com/kiln-os/kiln/internal/version"

// binariesIn is what the machined binary is built from: the Go sources under RepoDir and
// the name and version stamped into it.
type binariesIn struct {
	RepoDir       string
	Name, Version string
	stepEnv
}

// binariesOut holds the path of the machined binary, inside the cache.
type binariesOut struct {
	Machined string
	cached
}

// stepBinaries builds the machined multi-call binary: static, trimmed paths, no build ID,
// no VCS stamp, version from the spec. Cached by the hash of every Go source file.
func stepBinaries(ctx context.Context, in binariesIn) (binariesOut, error) {
	goVersion, err := exec.CommandContext(ctx, "go", "version").Output()
	if err != nil {
		return binariesOut{}, fmt.Errorf("go toolchain: %w", err)
	}
	srcHash, err := hashGoSources(in.RepoDir)
	if err != nil {
		return binariesOut{}, err
	}
	ldflags := fmt.Sprintf("-s -w -buildid= -X %s.Version=%s -X %s.Name=%s", versionPkg, in.Version, versionPkg, in.Name)
	key := Key("machined-v1", string(goVersion), srcHash, ldflags)
	dir, hit, err := Cache{in.CacheDir}.Step("machined", key, func(dir string) error {
		return goBuildMachined(ctx, in.RepoDir, ldflags, filepath.Join(dir, "machined"))
	})
	if err != nil {
		return binariesOut{}, err
	}
	logHit(in.Log, "machined", hit)
	return binariesOut{Machined: filepath.Join(dir, "machined"), cached: cached{hit}}, nil
}

func goBuildMachined(ctx context.Context, repoDir, ldflags, dst string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", ldflags, "-o", dst, "./cmd/machined")
	cmd.Dir = repoDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/machined: %w\n%s", err, out)
	}
	return nil
}

// hashGoSources hashes the non-test Go files, go.mod and go.sum of the module at dir in path
// order, leaving out nested modules.
func hashGoSources(dir string) (string, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != dir && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata") {
				return filepath.SkipDir
			}
			// A nested module (the runtime's, under containerd/) is not part of machined:
			// editing it must not rebuild machined.
			if _, err := os.Stat(filepath.Join(p, "go.mod")); p != dir && err == nil {
				return filepath.SkipDir
			}
			return nil
		}
		if (strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")) || name == "go.mod" || name == "go.sum" {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(paths)
	parts := make([]string, 0, 2*len(paths))
	for _, p := range paths {
		sum, _, err := FileSHA256(p)
		if err != nil {
			return "", err
		}
		rel, _ := filepath.Rel(dir, p)
		parts = append(parts, rel, sum)
	}
	return Key(parts...), nil
}

// rootfsIn is what the root filesystem holds and how it is packed.
type rootfsIn struct {
	Name, Version string
	// CABundle is the host's CA bundle, copied into the image.
	CABundle string
	// ESPPayload is the ESP without its UKI, for the installer (rootfs.Tree.ESPPayload).
	ESPPayload []rootfs.File
	// Runtime is the container runtime's binaries and config (stepRuntime).
	Runtime rootfs.Runtime
	// KubernetesPin pins the Kubernetes payload (stepKubePayload); nil for an image without it.
	KubernetesPin *kubepayload.Pin
	Compression   string
	Epoch         int64
	stepEnv
}

// rootfsOut holds the path of the squashfs, inside the cache.
type rootfsOut struct {
	Squashfs string
	// Stored is a JSON list of each file's share of the squashfs (squashfs.FileStored),
	// beside it in the cache: the UKI's size report reads it.
	Stored string
	cached
}

// stepRootfs packs the root tree into a squashfs: everything but machined, which is the
// initramfs's /init.
func stepRootfs(ctx context.Context, in rootfsIn) (rootfsOut, error) {
	tree := rootfs.Tree{
		OSRelease:  rootfs.OSRelease(in.Name, in.Version),
		CABundle:   in.CABundle,
		ESPPayload: in.ESPPayload,
		Runtime:    &in.Runtime,
	}
	if in.KubernetesPin != nil {
		pin, err := json.MarshalIndent(in.KubernetesPin, "", "  ")
		if err != nil {
			return rootfsOut{}, err
		}
		tree.KubernetesPin = append(pin, '\n')
	}
	runtimeSums, err := fileSums(in.Runtime.Containerd, in.Runtime.Runc, in.Runtime.Config)
	if err != nil {
		return rootfsOut{}, fmt.Errorf("runtime: %w", err)
	}
	caSum, _, err := FileSHA256(tree.CABundle)
	if err != nil {
		return rootfsOut{}, fmt.Errorf("CA bundle %s (install ca-certificates): %w", tree.CABundle, err)
	}
	payload := sha256.New()
	for _, f := range in.ESPPayload {
		fmt.Fprintf(payload, "%q %d %x\n", f.Path, len(f.Data), sha256.Sum256(f.Data))
	}
	// machined is not in the root (stage 1 binds the initramfs's /init over /sbin/init):
	// a change to machined alone leaves the squashfs cached.
	key := Key("rootfs-v10", fmt.Sprint(rootfs.BlockSize), string(tree.OSRelease), caSum, fmt.Sprint(in.Epoch), in.Compression, hex.EncodeToString(payload.Sum(nil)), runtimeSums, string(tree.KubernetesPin))
	dir, hit, err := Cache{in.CacheDir}.Step("rootfs", key, func(dir string) error {
		stored, err := tree.WriteSquashfs(filepath.Join(dir, "rootfs.sqsh"), time.Unix(in.Epoch, 0))
		if err != nil {
			return err
		}
		data, err := json.Marshal(stored)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, storedFile), data, 0o644)
	})
	if err != nil {
		return rootfsOut{}, err
	}
	logHit(in.Log, "rootfs", hit)
	return rootfsOut{Squashfs: filepath.Join(dir, "rootfs.sqsh"), Stored: filepath.Join(dir, storedFile), cached: cached{hit}}, nil
}

// storedFile is the name of rootfsOut.Stored in the cache entry.
const storedFile = "rootfs.stored.json"

// fileSums is the SHA-256 of each file, in order, as one string.
func fileSums(paths ...string) (string, error) {
	sums := make([]string, len(paths))
	for i, p := range paths {
		sum, _, err := FileSHA256(p)
		if err != nil {
			return "", err
		}
		sums[i] = sum
	}
	return strings.Join(sums, " "), nil
}

// initramfsIn is what goes into the initramfs: machined as /init and the root squashfs.
type initramfsIn struct {
	Machined, Rootfs string
	Epoch            int64
	stepEnv
}

// initramfsOut holds the path of the compressed cpio, inside the cache.
type initramfsOut struct {
	Initramfs string
	cached
}

// stepInitramfs packs /init (machined in stage-1 mode) and /rootfs.sqsh into a zstd newc cpio.
func stepInitramfs(ctx context.Context, in initramfsIn) (initramfsOut, error) {
	machinedSum, _, err := FileSHA256(in.Machined)
	if err != nil {
		return initramfsOut{}, err
	}
	rootfsSum, _, err := FileSHA256(in.Rootfs)
	if err != nil {
		return initramfsOut{}, err
	}
	key := Key("initramfs-v3", machinedSum, rootfsSum, fmt.Sprint(in.Epoch))
	dir, hit, err := Cache{in.CacheDir}.Step("initramfs", key, func(dir string) error {
		return rootfs.WriteInitramfs(filepath.Join(dir, "initramfs.cpio.zst"), in.Machined, in.Rootfs, time.Unix(in.Epoch, 0))
	})
	if err != nil {
		return initramfsOut{}, err
	}
	logHit(in.Log, "initramfs", hit)
	return initramfsOut{Initramfs: filepath.Join(dir, "initramfs.cpio.zst"), cached: cached{hit}}, nil
}

func logHit(log logrus.FieldLogger, step string, hit bool) {
	log.WithFields(logrus.Fields{"artifact": step, "cache": cached{hit}.cacheWord()}).Info("cache")
}
