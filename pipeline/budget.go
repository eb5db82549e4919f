package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kiln-os/kiln/rootfs/squashfs"
)

// Part is one contributor to the UKI's size.
type Part struct {
	Name  string `json:"name"`
	Bytes int64  `json:"bytes"`
}

// UKISizes is where the UKI's bytes go (uki-sizes.json in the output), largest first.
type UKISizes struct {
	UKI      int64  `json:"uki"`
	MaxBytes int64  `json:"maxBytes"`
	Parts    []Part `json:"parts"`
}

// ukiSizes splits the UKI: the kernel (.linux), machined (the initramfs but the squashfs,
// which rides in it uncompressed: rootfs.WriteInitramfs), every file of the root that
// takes a MB or more, the rest of the
// root (small files and the squashfs's tables) and the rest of the PE (stub and small
// sections).
func ukiSizes(uki, vmlinuz, initramfs, squashfsBytes int64, stored []squashfs.FileStored, max int64) UKISizes {
	parts := []Part{
		{"kernel (.linux, vmlinuz)", vmlinuz},
		{"machined (the initramfs's /init, compressed with it)", initramfs - squashfsBytes},
	}
	rest := squashfsBytes
	for _, f := range stored {
		if f.Stored < 1_000_000 {
			continue
		}
		parts = append(parts, Part{"rootfs /" + f.Path, int64(f.Stored)})
		rest -= int64(f.Stored)
	}
	parts = append(parts,
		Part{"rootfs: smaller files and tables", rest},
		Part{"UKI: systemd-stub and the small sections", uki - vmlinuz - initramfs})
	sort.SliceStable(parts, func(i, j int) bool { return parts[i].Bytes > parts[j].Bytes })
	return UKISizes{UKI: uki, MaxBytes: max, Parts: parts}
}

// check fails when the UKI is over its budget, naming the largest parts.
func (s UKISizes) check() error {
	if s.UKI <= s.MaxBytes {
		return nil
	}
	var top []string
	for _, p := range s.Parts[:min(5, len(s.Parts))] {
		top = append(top, fmt.Sprintf("%s %.2f MB", p.Name, float64(p.Bytes)/1e6))
	}
	return fmt.Errorf("the UKI is %d bytes (%.2f MB), over its budget of %d (uki.maxBytes in the spec); the largest parts: %s",
		s.UKI, float64(s.UKI)/1e6, s.MaxBytes, strings.Join(top, ", "))
}

// ukiSizesIn is what the size report reads: the UKI and its parts, the root's files'
// shares (rootfsOut.Stored), the budget, and where the report goes.
type ukiSizesIn struct {
	UKI, Vmlinuz, Initramfs, Squashfs, Stored string
	MaxBytes                                  int64
	Dir                                       string
}

// ukiSizesOut is the report's path (uki-sizes.json).
type ukiSizesOut struct{ Path string }

// stepUKISizes writes uki-sizes.json into the staging directory and fails the build when
// the UKI is over its budget; the report is written either way, to show where to cut.
func stepUKISizes(_ context.Context, in ukiSizesIn) (ukiSizesOut, error) {
	path, err := writeUKISizes(in.UKI, in.Vmlinuz, in.Initramfs, in.Squashfs, in.Stored, in.MaxBytes, in.Dir)
	return ukiSizesOut{Path: path}, err
}

func writeUKISizes(uki, vmlinuz, initramfs, squashfsPath, storedPath string, max int64, dir string) (string, error) {
	size := func(p string) (int64, error) {
		fi, err := os.Stat(p)
		if err != nil {
			return 0, err
		}
		return fi.Size(), nil
	}
	var sizes [4]int64
	for i, p := range []string{uki, vmlinuz, initramfs, squashfsPath} {
		n, err := size(p)
		if err != nil {
			return "", err
		}
		sizes[i] = n
	}
	data, err := os.ReadFile(storedPath)
	if err != nil {
		return "", err
	}
	var stored []squashfs.FileStored
	if err := json.Unmarshal(data, &stored); err != nil {
		return "", fmt.Errorf("%s: %w", storedPath, err)
	}
	report := ukiSizes(sizes[0], sizes[1], sizes[2], sizes[3], stored, max)
	out, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "uki-sizes.json")
	if err := os.WriteFile(path, append(out, '\n'), 0o644); err != nil {
		return "", err
	}
	return path, report.check()
}
