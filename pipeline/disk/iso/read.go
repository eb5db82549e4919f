package iso

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Errors returned by the reader.
var (
	ErrFormat    = errors.New("iso: not an ISO 9660 image or a malformed one")
	ErrNoEFIBoot = errors.New("iso: no El Torito EFI boot image")
)

// maxDescriptors bounds the volume descriptor set Open reads (ECMA-119 8: a set ends at
// a terminator; real images have 2 to 5 descriptors).
const maxDescriptors = 32

// Image is an ISO 9660 image opened for reading its El Torito boot catalog: the reading
// half of what Write writes, for any writer's images (xorriso, genisoimage). The image
// is untrusted: every block number and count is checked against its size.
type Image struct {
	r       io.ReaderAt
	size    int64
	catalog int64 // the boot catalog's byte offset; 0 if there is no boot record
}

// Open reads the volume descriptors from block 16 (ECMA-119 6.2.1, 8.1): there must be a
// Primary Volume Descriptor before the terminator; an El Torito Boot Record (El Torito
// 1.0 §2.0) gives the boot catalog's block.
func Open(r io.ReaderAt, size int64) (*Image, error) {
	im := &Image{r: r, size: size}
	primary := false
	b := make([]byte, blockSize)
	for i := int64(0); i < maxDescriptors; i++ {
		off := (systemAreaBlocks + i) * blockSize
		if off+blockSize > size {
			break
		}
		if _, err := r.ReadAt(b, off); err != nil {
			return nil, fmt.Errorf("iso: volume descriptor %d: %w", systemAreaBlocks+i, err)
		}
		if string(b[1:6]) != standardID {
			return nil, fmt.Errorf("%w: block %d has no %s", ErrFormat, systemAreaBlocks+i, standardID)
		}
		switch b[0] {
		case typeTerminator:
			if !primary {
				return nil, fmt.Errorf("%w: no primary volume descriptor", ErrFormat)
			}
			return im, nil
		case typePrimary:
			primary = true
		case typeBootRecord:
			if string(b[7:7+len(elToritoSystemID)]) == elToritoSystemID {
				block := int64(binary.LittleEndian.Uint32(b[71:]))
				if block < systemAreaBlocks || (block+1)*blockSize > size {
					return nil, fmt.Errorf("%w: boot catalog at block %d of a %d-byte image", ErrFormat, block, size)
				}
				im.catalog = block * blockSize
			}
		}
	}
	return nil, fmt.Errorf("%w: no volume descriptor set terminator", ErrFormat)
}

// El Torito 1.0 catalog entries (§2.1-2.4), 32 bytes each.
const (
	catalogEntry       = 32
	headerValidation   = 0x01
	headerMore         = 0x90
	headerFinal        = 0x91
	extensionIndicator = 0x44
)

// EFIBootImage returns the boot image of the catalog's first bootable, no-emulation
// entry for platform 0xEF (EFI): the initial/default entry when the validation entry
// names EFI (as Write makes it), else an entry of an EFI section (as xorriso makes it
// beside a BIOS default). Its length is the entry's sector count of 512-byte units; a
// count of 0 or 1 means "to the end of the medium", as UEFI 2.10 §13.3.2.1 reads it, so
// the reader gets the rest of the image and the FAT's own size bounds it.
func (im *Image) EFIBootImage() (*io.SectionReader, error) {
	if im.catalog == 0 {
		return nil, fmt.Errorf("%w: no El Torito boot record", ErrNoEFIBoot)
	}
	c := make([]byte, blockSize)
	if _, err := im.r.ReadAt(c, im.catalog); err != nil {
		return nil, fmt.Errorf("iso: boot catalog: %w", err)
	}
	if err := checkValidation(c[:catalogEntry]); err != nil {
		return nil, err
	}
	if c[1] == platformEFI {
		if sr, ok, err := im.bootEntry(c[catalogEntry : 2*catalogEntry]); ok || err != nil {
			return sr, err
		}
	}
	for off := 2 * catalogEntry; off+catalogEntry <= len(c); {
		h := c[off : off+catalogEntry]
		if h[0] != headerMore && h[0] != headerFinal {
			break
		}
		platform, n := h[1], int(binary.LittleEndian.Uint16(h[2:]))
		off += catalogEntry
		for i := 0; i < n && off+catalogEntry <= len(c); off += catalogEntry {
			e := c[off : off+catalogEntry]
			if e[0] == extensionIndicator {
				continue
			}
			i++
			if platform != platformEFI {
				continue
			}
			if sr, ok, err := im.bootEntry(e); ok || err != nil {
				return sr, err
			}
		}
		if h[0] == headerFinal {
			break
		}
	}
	return nil, fmt.Errorf("%w: the boot catalog has no bootable EFI entry", ErrNoEFIBoot)
}

// checkValidation checks the validation entry: header ID 1, key bytes 0x55 0xAA, and
// the sixteen little-endian words summing to zero (El Torito 1.0 §2.1).
func checkValidation(v []byte) error {
	var sum uint16
	for i := 0; i < catalogEntry; i += 2 {
		sum += binary.LittleEndian.Uint16(v[i:])
	}
	if v[0] != headerValidation || v[30] != 0x55 || v[31] != 0xAA || sum != 0 {
		return fmt.Errorf("%w: boot catalog validation entry is not valid", ErrFormat)
	}
	return nil
}

// bootEntry returns the image of a bootable no-emulation entry; ok is false for an
// entry that is not one.
func (im *Image) bootEntry(e []byte) (*io.SectionReader, bool, error) {
	if e[0] != bootable || e[1]&0x0F != noEmulation {
		return nil, false, nil
	}
	count := int64(binary.LittleEndian.Uint16(e[6:]))
	start := int64(binary.LittleEndian.Uint32(e[8:])) * blockSize
	if start <= 0 || start >= im.size {
		return nil, false, fmt.Errorf("%w: boot image at byte %d of a %d-byte image", ErrFormat, start, im.size)
	}
	n := im.size - start
	if count > 1 {
		if n < count*virtualSectorSize {
			return nil, false, fmt.Errorf("%w: boot image of %d sectors at byte %d runs past the image's %d bytes", ErrFormat, count, start, im.size)
		}
		n = count * virtualSectorSize
	}
	return io.NewSectionReader(im.r, start, n), true, nil
}
