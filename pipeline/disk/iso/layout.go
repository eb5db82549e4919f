package iso

import (
	"fmt"
	"math"
)

const (
	blockSize        = 2048
	systemAreaBlocks = 16
	// paddingBlocks of zeros end the volume, as mkisofs -pad and xorriso
	// do: Linux reads ahead at the end of optical media and fails on the
	// last blocks otherwise, and the boot image is the last extent.
	paddingBlocks = 150
)

// image is a planned ISO: the tree with every extent placed.
type image struct {
	opts  Options
	root  *node
	boot  *node   // the El Torito image, or nil
	dirs  []*node // in path table order
	files []*node // in data order, the boot image last

	bootRecord    uint32 // block of the Boot Record, 0 without one
	terminator    uint32
	pathTableSize uint32 // bytes of one path table
	pathTableL    uint32
	pathTableM    uint32
	catalog       uint32 // block of the boot catalog, 0 without one
	blocks        uint32 // the volume space size
}

// layout numbers the directories and places every extent, in the order
// write emits them.
func (im *image) layout() error {
	im.dirs = pathTableOrder(im.root)
	if len(im.dirs) > math.MaxUint16 {
		return fmt.Errorf("%w: %d directories, a path table numbers %d", ErrTooLarge, len(im.dirs), math.MaxUint16)
	}
	im.files = dataOrder(im.root, im.boot)
	next := uint64(systemAreaBlocks + 1) // after the Primary Volume Descriptor
	if im.boot != nil {
		im.bootRecord = uint32(next)
		next++
	}
	im.terminator = uint32(next)
	next++
	im.pathTableSize = uint32(len(im.pathTable(false)))
	im.pathTableL, next = uint32(next), next+blocks(uint64(im.pathTableSize))
	im.pathTableM, next = uint32(next), next+blocks(uint64(im.pathTableSize))
	for _, d := range im.dirs {
		d.size = uint32(len(im.dirBytes(d)))
		d.extent, next = uint32(next), next+blocks(uint64(d.size))
	}
	if im.boot != nil {
		im.catalog = uint32(next)
		next++
	}
	for _, f := range im.files {
		f.size = uint32(len(f.data))
		if f.size > 0 {
			f.extent, next = uint32(next), next+blocks(uint64(f.size))
		}
	}
	next += paddingBlocks
	if next > math.MaxUint32 {
		return fmt.Errorf("%w: %d blocks", ErrTooLarge, next)
	}
	im.blocks = uint32(next)
	return nil
}

// pathTableOrder lists the directories level by level, each level in the
// order of its parents and then by name (ECMA-119 6.9.1), and numbers them.
func pathTableOrder(root *node) []*node {
	dirs := []*node{root}
	for i := 0; i < len(dirs); i++ {
		dirs[i].number = i + 1
		for _, c := range dirs[i].children {
			if c.dir {
				dirs = append(dirs, c)
			}
		}
	}
	return dirs
}

// dataOrder lists the files depth first in directory order, boot last.
func dataOrder(root, boot *node) []*node {
	var files []*node
	var walk func(d *node)
	walk = func(d *node) {
		for _, c := range d.children {
			switch {
			case c.dir:
				walk(c)
			case c != boot:
				files = append(files, c)
			}
		}
	}
	walk(root)
	if boot != nil {
		files = append(files, boot)
	}
	return files
}

// blocks is how many blocks n bytes take.
func blocks(n uint64) uint64 { return (n + blockSize - 1) / blockSize }
