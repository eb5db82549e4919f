package iso

import (
	"encoding/binary"
	"fmt"
)

const (
	standardID        = "CD001"
	typeBootRecord    = 0
	typePrimary       = 1
	typeTerminator    = 255
	elToritoSystemID  = "EL TORITO SPECIFICATION"
	platformEFI       = 0xEF
	bootable          = 0x88
	noEmulation       = 0
	virtualSectorSize = 512
	mbrTypeEFI        = 0xEF
)

// descriptor starts a volume descriptor block of type typ (ECMA-119 8.1).
func descriptor(typ byte) []byte {
	b := make([]byte, blockSize)
	b[0] = typ
	copy(b[1:6], standardID)
	b[6] = 1 // version
	return b
}

// primaryDescriptor is the Primary Volume Descriptor (ECMA-119 8.4).
func (im *image) primaryDescriptor() []byte {
	b := descriptor(typePrimary)
	copy(b[8:40], fmt.Sprintf("%-32s", ""))                // system identifier
	copy(b[40:72], fmt.Sprintf("%-32s", im.opts.VolumeID)) // volume identifier
	both32(b[80:], im.blocks)
	both16(b[120:], 1) // volume set size
	both16(b[124:], 1) // volume sequence number
	both16(b[128:], blockSize)
	both32(b[132:], im.pathTableSize)
	binary.LittleEndian.PutUint32(b[140:], im.pathTableL)
	binary.BigEndian.PutUint32(b[148:], im.pathTableM)
	copy(b[156:190], im.record(im.root, []byte{0}))
	// Volume set, publisher, data preparer and application identifiers,
	// then the copyright, abstract and bibliographic file identifiers: none.
	copy(b[190:813], fmt.Sprintf("%-623s", ""))
	copy(b[813:830], volumeDate(im.opts.ModTime)) // creation
	copy(b[830:847], volumeDate(im.opts.ModTime)) // modification
	copy(b[847:864], unsetVolumeDate())           // expiration
	copy(b[864:881], unsetVolumeDate())           // effective
	b[881] = 1                                    // file structure version
	return b
}

// bootRecordDescriptor points at the boot catalog (El Torito 2.0).
func (im *image) bootRecordDescriptor() []byte {
	b := descriptor(typeBootRecord)
	copy(b[7:39], elToritoSystemID) // zero-padded
	binary.LittleEndian.PutUint32(b[71:], im.catalog)
	return b
}

func terminatorDescriptor() []byte { return descriptor(typeTerminator) }

// bootCatalog is the validation entry for EFI and the initial/default entry
// for the boot image (El Torito 2.1, 2.2).
func (im *image) bootCatalog() []byte {
	b := make([]byte, blockSize)
	v := b[0:32]
	v[0] = 1 // header ID
	v[1] = platformEFI
	v[30], v[31] = 0x55, 0xAA
	var sum uint16
	for i := 0; i < 32; i += 2 {
		sum += binary.LittleEndian.Uint16(v[i:])
	}
	binary.LittleEndian.PutUint16(v[28:], -sum) // the words add up to 0

	e := b[32:64]
	e[0] = bootable
	e[1] = noEmulation
	binary.LittleEndian.PutUint16(e[6:], im.bootSectorCount())
	binary.LittleEndian.PutUint32(e[8:], im.boot.extent)
	return b
}

// bootSectorCount is the boot image size in 512-byte sectors, or 0 ("to the
// end of the medium" for UEFI) when that does not fit in 16 bits.
func (im *image) bootSectorCount() uint16 {
	n := (uint64(im.boot.size) + virtualSectorSize - 1) / virtualSectorSize
	if n > 0xFFFF {
		return 0
	}
	return uint16(n)
}

// hybridMBR is the first 512 bytes of the system area: an MBR whose only
// partition, type 0xEF, is the boot image, in 512-byte sectors. The CHS
// fields say "use LBA"; the disk signature is 0.
func (im *image) hybridMBR() []byte {
	b := make([]byte, virtualSectorSize)
	e := b[446:462]
	copy(e[1:4], []byte{0xFE, 0xFF, 0xFF})
	e[4] = mbrTypeEFI
	copy(e[5:8], []byte{0xFE, 0xFF, 0xFF})
	binary.LittleEndian.PutUint32(e[8:], im.boot.extent*(blockSize/virtualSectorSize))
	binary.LittleEndian.PutUint32(e[12:], uint32((uint64(im.boot.size)+virtualSectorSize-1)/virtualSectorSize))
	b[510], b[511] = 0x55, 0xAA
	return b
}
