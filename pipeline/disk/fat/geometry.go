package fat

import (
	"fmt"
	"math"
)

const (
	sectorSize     = 512
	dirEntrySize   = 32
	fatCount       = 2
	maxClusterSecs = 64 // 32 KiB, the largest cluster every driver reads
	// boundaryMargin keeps cluster counts away from the FAT12/16/32 limits,
	// where drivers that count one off would read the wrong entry width.
	boundaryMargin = 16
)

// clusterRange is the range of data cluster counts a type is written with.
var clusterRange = map[Type][2]uint32{
	FAT12: {1, 4084 - boundaryMargin},
	FAT16: {4085 + boundaryMargin, 65524 - boundaryMargin},
	FAT32: {65525 + boundaryMargin, 0x0FFFFFF5},
}

// geometry is where everything lives on the volume, in sectors.
type geometry struct {
	typ               Type
	sectors           uint32 // the whole volume
	sectorsPerCluster uint32
	reserved          uint32 // boot region before the first FAT
	fatSectors        uint32 // one FAT
	rootEntries       uint32 // FAT12/16 fixed root directory; 0 on FAT32
	clusters          uint32 // data clusters, numbered 2 .. clusters+1
}

// chooseGeometry lays out a volume of size bytes as typ, or as the first of
// FAT32, FAT16, FAT12 that fits when typ is Auto.
func chooseGeometry(size int64, typ Type) (geometry, error) {
	if size <= 0 || size%sectorSize != 0 || size/sectorSize > math.MaxUint32 {
		return geometry{}, fmt.Errorf("%w: size %d is not a positive multiple of %d below 2 TiB", ErrOptions, size, sectorSize)
	}
	types := []Type{typ}
	switch typ {
	case Auto:
		types = []Type{FAT32, FAT16, FAT12}
	case FAT12, FAT16, FAT32:
	default:
		return geometry{}, fmt.Errorf("%w: type %v", ErrOptions, typ)
	}
	for _, t := range types {
		if g, ok := fitType(t, uint32(size/sectorSize)); ok {
			return g, nil
		}
	}
	return geometry{}, fmt.Errorf("%w: %d bytes as %v", ErrSize, size, typ)
}

// fitType tries cluster sizes from the type's first choice upwards and takes
// the first whose cluster count is in the type's range.
func fitType(t Type, sectors uint32) (geometry, bool) {
	bounds := clusterRange[t]
	for spc := firstClusterSectors(t, sectors); spc <= maxClusterSecs; spc *= 2 {
		g, ok := layoutFor(t, sectors, spc)
		if !ok {
			return geometry{}, false
		}
		if g.clusters > bounds[1] {
			continue
		}
		return g, g.clusters >= bounds[0]
	}
	return geometry{}, false
}

// firstClusterSectors is the fatgen103 cluster size table for FAT32; FAT12
// and FAT16 start from one sector per cluster.
func firstClusterSectors(t Type, sectors uint32) uint32 {
	if t != FAT32 {
		return 1
	}
	switch {
	case sectors <= 532480: // 260 MiB
		return 1
	case sectors <= 16777216: // 8 GiB
		return 8
	case sectors <= 33554432: // 16 GiB
		return 16
	case sectors <= 67108864: // 32 GiB
		return 32
	}
	return 64
}

// layoutFor sizes the FATs for spc sectors per cluster: it grows them until
// they have an entry for every data cluster that is left. ok is false when
// the metadata alone fills the volume.
func layoutFor(t Type, sectors, spc uint32) (g geometry, ok bool) {
	g = geometry{typ: t, sectors: sectors, sectorsPerCluster: spc, reserved: 1, rootEntries: 512, fatSectors: 1}
	if t == FAT32 {
		g.reserved, g.rootEntries = 32, 0
	}
	for {
		meta := uint64(g.reserved) + uint64(g.rootSectors()) + fatCount*uint64(g.fatSectors)
		if meta >= uint64(sectors) {
			return g, false
		}
		g.clusters = uint32((uint64(sectors) - meta) / uint64(spc))
		need := uint32((fatBytes(t, uint64(g.clusters)+2) + sectorSize - 1) / sectorSize)
		if need <= g.fatSectors {
			return g, true
		}
		g.fatSectors = need
	}
}

// fatBytes is the size of a FAT with n entries.
func fatBytes(t Type, n uint64) uint64 {
	switch t {
	case FAT12:
		return (n*3 + 1) / 2
	case FAT16:
		return n * 2
	}
	return n * 4
}

func (g geometry) rootSectors() uint32 { return g.rootEntries * dirEntrySize / sectorSize }

func (g geometry) clusterBytes() int64 { return int64(g.sectorsPerCluster) * sectorSize }

func (g geometry) fatOffset(i int) int64 {
	return (int64(g.reserved) + int64(i)*int64(g.fatSectors)) * sectorSize
}

// rootOffset is where the FAT12/16 root directory region starts.
func (g geometry) rootOffset() int64 { return g.fatOffset(fatCount) }

func (g geometry) dataOffset() int64 {
	return g.rootOffset() + int64(g.rootSectors())*sectorSize
}

func (g geometry) clusterOffset(cluster uint32) int64 {
	return g.dataOffset() + int64(cluster-2)*g.clusterBytes()
}

// clustersFor is how many clusters n bytes take.
func (g geometry) clustersFor(n int64) uint32 {
	return uint32((n + g.clusterBytes() - 1) / g.clusterBytes())
}
