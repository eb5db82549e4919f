package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kiln-os/kiln/bootloader"
	"github.com/kiln-os/kiln/bootloader/entry"
	"github.com/kiln-os/kiln/bootloader/keys"
	"github.com/kiln-os/kiln/internal/kubepayload"
	"github.com/kiln-os/kiln/pipeline/disk/fat"
	"github.com/kiln-os/kiln/pipeline/disk/iso"
	"github.com/kiln-os/kiln/pipeline/disk/layout"
	"github.com/kiln-os/kiln/rootfs"
)

// Disk layout (DESIGN.md "Disk layout"), defined once in package layout for the builder
// and the installer. EPHEMERAL takes the rest of the image; a machine grows it to the
// rest of its disk at first boot.
const (
	DiskSize  = layout.ImageSize
	ESPSize   = layout.ESPSize
	StateSize = layout.StateSize
)

// mediaIn is what the disk and ISO steps put on their ESP and how they name it.
type mediaIn struct {
	// Name, Version and Epoch seed every identifier of the image (see seed).
	Name, Version string
	Epoch         int64
	// SystemdBoot and UKI are the signed binaries; Keys' certificates are enrolled.
	SystemdBoot, UKI string
	Keys             *keys.Set
	// KubePayload is the Kubernetes payload file, put on the ESP under
	// kubepayload.ESPDir as KubePayloadName; "" for an image without it.
	KubePayload, KubePayloadName string
	// Dir is where the image is written.
	Dir string
}

// mediaOut holds the path of a written image.
type mediaOut struct {
	Path string
}

// espFiles is the ESP tree: signed systemd-boot, loader.conf, the enrolment files, the
// UKI under ukiName, and the Kubernetes payload its root pins.
func (in mediaIn) espFiles(ukiName string) ([]fat.File, error) {
	uki, err := os.ReadFile(in.UKI)
	if err != nil {
		return nil, err
	}
	files, err := in.espTree([]bootloader.UKI{{Name: ukiName, Data: uki}})
	if err != nil {
		return nil, err
	}
	out := make([]fat.File, len(files), len(files)+1)
	for i, f := range files {
		out[i] = fat.File{Path: f.Path, Data: f.Data}
	}
	if in.KubePayload != "" {
		data, err := os.ReadFile(in.KubePayload)
		if err != nil {
			return nil, err
		}
		out = append(out, fat.File{Path: kubepayload.ESPDir + "/" + in.KubePayloadName, Data: data})
	}
	return out, nil
}

// espPayload is the ESP of a fresh install without its UKI: what the root filesystem
// carries for the installer (rootfs.ESPPayloadDir). It is the same tree espFiles writes,
// from the same inputs, so an installed ESP equals disk.raw's.
func espPayload(systemdBootPath string, keySet *keys.Set, epoch int64) ([]rootfs.File, error) {
	files, err := mediaIn{SystemdBoot: systemdBootPath, Keys: keySet, Epoch: epoch}.espTree(nil)
	if err != nil {
		return nil, err
	}
	out := make([]rootfs.File, len(files))
	for i, f := range files {
		out[i] = rootfs.File{Path: f.Path, Data: f.Data}
	}
	return out, nil
}

// espTree is the ESP's files with the given UKIs.
func (in mediaIn) espTree(ukis []bootloader.UKI) ([]bootloader.File, error) {
	systemdBoot, err := os.ReadFile(in.SystemdBoot)
	if err != nil {
		return nil, err
	}
	esp := bootloader.ESP{
		SystemdBoot: systemdBoot,
		Keys:        in.Keys,
		Owner:       bootloader.OwnerGUID,
		Timestamp:   time.Unix(in.Epoch, 0).UTC(),
		UKIs:        ukis,
	}
	return esp.Files()
}

// seed derives every identifier of the images (GPT GUIDs, FAT volume IDs) from the spec, so
// that they are stable across builds of one version and differ between versions.
func (in mediaIn) seed() []byte {
	return fmt.Appendf(nil, "kiln-image:%s:%s:%d", in.Name, in.Version, in.Epoch)
}

func (in mediaIn) volumeID(what string) uint32 {
	sum := sha256.Sum256(append(in.seed(), what...))
	return binary.LittleEndian.Uint32(sum[:4])
}

// stepDisk writes disk.raw: GPT with EFI (FAT32, the UKI in a fresh boot-counting slot),
// STATE and EPHEMERAL (left unformatted: machined formats them).
func stepDisk(ctx context.Context, in mediaIn) (mediaOut, error) {
	files, err := in.espFiles(entry.Fresh(in.Version))
	if err != nil {
		return mediaOut{}, err
	}
	path := filepath.Join(in.Dir, "disk.raw")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return mediaOut{}, err
	}
	defer f.Close()
	if err := in.writeDisk(f, files); err != nil {
		return mediaOut{}, err
	}
	if err := f.Close(); err != nil {
		return mediaOut{}, err
	}
	return mediaOut{Path: path}, nil
}

// writeDisk writes the partition table and the ESP; STATE and EPHEMERAL stay zero.
func (in mediaIn) writeDisk(f *os.File, files []fat.File) error {
	table, err := layout.Partitions().Write(f, DiskSize, in.seed())
	if err != nil {
		return fmt.Errorf("disk.raw: %w", err)
	}
	espExtent := table.Partitions[0]
	opts := fat.Options{Size: espExtent.Size, Type: fat.FAT32, Label: layout.ESPVolumeLabel, VolumeID: in.volumeID("esp"), ModTime: time.Unix(in.Epoch, 0).UTC()}
	if err := fat.Write(io.NewOffsetWriter(f, espExtent.Offset), opts, files); err != nil {
		return fmt.Errorf("disk.raw ESP: %w", err)
	}
	return nil
}

// stepISO writes kiln.iso: an El Torito UEFI boot image holding the same ESP tree. The
// medium is read-only, so the UKI carries its blessed name: there is nothing to count.
func stepISO(ctx context.Context, in mediaIn) (mediaOut, error) {
	files, err := in.espFiles(ukiName(in.Version))
	if err != nil {
		return mediaOut{}, err
	}
	var total int64
	for _, f := range files {
		total += int64(len(f.Data))
	}
	// Room for the files, FAT overhead and a little slack, in whole MiB.
	size := (total*11/10 + 4<<20 + 1<<20 - 1) &^ (1<<20 - 1)
	img := make(writerAtBuffer, size)
	opts := fat.Options{Size: size, Label: "KILN-ISO", VolumeID: in.volumeID("iso-esp"), ModTime: time.Unix(in.Epoch, 0).UTC()}
	if err := fat.Write(img, opts, files); err != nil {
		return mediaOut{}, fmt.Errorf("kiln.iso boot image: %w", err)
	}
	path := filepath.Join(in.Dir, "kiln.iso")
	isoOpts := iso.Options{VolumeID: isoVolumeID(in.Name, in.Version), ModTime: time.Unix(in.Epoch, 0).UTC(), EFIBootImage: "EFI/EFIBOOT.IMG", HybridMBR: true}
	if err := iso.WriteFile(path, isoOpts, []iso.File{{Path: "EFI/EFIBOOT.IMG", Data: img}}); err != nil {
		return mediaOut{}, fmt.Errorf("kiln.iso: %w", err)
	}
	return mediaOut{Path: path}, nil
}

// isoVolumeID is KILN_<VERSION> in ISO 9660 d-characters.
func isoVolumeID(name, version string) string {
	id := strings.Map(func(r rune) rune {
		switch {
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			return r
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		}
		return '_'
	}, name+"_"+version)
	if len(id) > 32 {
		id = id[:32]
	}
	return id
}

// writerAtBuffer is an in-memory io.WriterAt of fixed size.
type writerAtBuffer []byte

func (b writerAtBuffer) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(b)) {
		return 0, fmt.Errorf("write of %d bytes at %d past the end of a %d-byte image", len(p), off, len(b))
	}
	return copy(b[off:], p), nil
}
