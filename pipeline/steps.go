package pipeline

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/rootfs"
)

const versionPkg = "github.com/kiln-os/kiln/internal/version"

// stepBinaries builds the machined multi-call binary: static, trimmed paths, no build ID,
// no VCS stamp, version from the spec. Cached by the hash of every Go source file.
func stepBinaries(ctx context.Context, st *state) error {
	b := st.b
	goVersion, err := exec.CommandContext(ctx, "go", "version").Output()
	if err != nil {
		return fmt.Errorf("go toolchain: %w", err)
	}
	srcHash, err := hashGoSources(b.RepoDir)
	if err != nil {
		return err
	}
	ldflags := fmt.Sprintf("-s -w -buildid= -X %s.Version=%s -X %s.Name=%s", versionPkg, b.Spec.Version, versionPkg, b.Spec.Name)
	key := Key("machined-v1", string(goVersion), srcHash, ldflags)
	dir, hit, err := Cache{b.CacheDir}.Step("machined", key, func(dir string) error {
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", ldflags,
			"-o", filepath.Join(dir, "machined"), "./cmd/machined")
		cmd.Dir = b.RepoDir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=-buildvcs=false")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/machined: %w\n%s", err, out)
		}
		return nil
	})
	if err != nil {
		return err
	}
	logHit(b.Log, "machined", hit)
	st.machined = filepath.Join(dir, "machined")
	return st.link("machined", "machined", st.machined)
}

// hashGoSources hashes the non-test Go files, go.mod and go.sum under dir in path order.
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

// stepRootfs packs the root tree into a squashfs.
func stepRootfs(ctx context.Context, st *state) error {
	b := st.b
	machinedSum, _, err := FileSHA256(st.machined)
	if err != nil {
		return err
	}
	tree := rootfs.Tree{
		Machined:  st.machined,
		OSRelease: rootfs.OSRelease(b.Spec.Name, b.Spec.Version),
		CABundle:  rootfs.DefaultCABundle,
	}
	caSum, _, err := FileSHA256(tree.CABundle)
	if err != nil {
		return fmt.Errorf("CA bundle %s (install ca-certificates): %w", tree.CABundle, err)
	}
	key := Key("rootfs-v1", machinedSum, string(tree.OSRelease), caSum, fmt.Sprint(st.epoch), b.Spec.Rootfs.Compression)
	dir, hit, err := Cache{b.CacheDir}.Step("rootfs", key, func(dir string) error {
		return tree.WriteSquashfs(filepath.Join(dir, "rootfs.sqsh"), time.Unix(st.epoch, 0))
	})
	if err != nil {
		return err
	}
	logHit(b.Log, "rootfs", hit)
	st.rootfs = filepath.Join(dir, "rootfs.sqsh")
	return st.link("rootfs", "rootfs.sqsh", st.rootfs)
}

// stepInitramfs packs /init (machined in stage-1 mode) and /rootfs.sqsh into a zstd newc cpio.
func stepInitramfs(ctx context.Context, st *state) error {
	b := st.b
	machinedSum, _, err := FileSHA256(st.machined)
	if err != nil {
		return err
	}
	rootfsSum, _, err := FileSHA256(st.rootfs)
	if err != nil {
		return err
	}
	key := Key("initramfs-v1", machinedSum, rootfsSum, fmt.Sprint(st.epoch))
	dir, hit, err := Cache{b.CacheDir}.Step("initramfs", key, func(dir string) error {
		return rootfs.WriteInitramfs(filepath.Join(dir, "initramfs.cpio.zst"), st.machined, st.rootfs, time.Unix(st.epoch, 0))
	})
	if err != nil {
		return err
	}
	logHit(b.Log, "initramfs", hit)
	st.initramfs = filepath.Join(dir, "initramfs.cpio.zst")
	return st.link("initramfs", "initramfs.cpio.zst", st.initramfs)
}

func logHit(log logrus.FieldLogger, step string, hit bool) {
	word := "miss"
	if hit {
		word = "hit"
	}
	log.WithFields(logrus.Fields{"artifact": step, "cache": word}).Info("cache")
}
