package squashfs

import (
	"encoding/binary"
	"math"
)

// Inode types. Directory entries always carry the basic type.
const (
	typeDir        = 1
	typeFile       = 2
	typeSymlink    = 3
	typeExtDir     = 8
	typeExtFile    = 9
	noXattr        = 0xFFFFFFFF
	dirSizeImplied = 3 // "." and "..", counted in a directory's size but not stored
)

var le = binary.LittleEndian

// numberInodes assigns inode numbers from *next in post-order, the order
// tableWriter writes them: children before their directory, the root last. A
// file with hard links is numbered at its first entry in that order.
func numberInodes(dir *node, next *uint32) {
	for _, child := range dir.list {
		switch {
		case child.kind == kindDir:
			numberInodes(child, next)
		case child.kind == kindLink:
			if child.link.ino == 0 {
				child.link.ino = *next
				*next++
			}
			child.ino = child.link.ino
		case child.ino == 0:
			child.ino = *next
			*next++
		}
	}
	dir.ino = *next
	*next++
}

// tableWriter writes the inode and directory tables in one post-order walk:
// a directory's listing needs its children's inode positions, and its own
// inode needs the position of its listing.
type tableWriter struct {
	mtime  uint32
	inodes metaWriter
	dirs   metaWriter
}

func (t *tableWriter) writeTree(dir *node, parentIno uint32) {
	for _, child := range dir.list {
		switch child.kind {
		case kindDir:
			t.writeTree(child, dir.ino)
		case kindFile:
			t.writeFile(child)
		case kindLink:
			t.writeFile(child.link)
			child.ref = child.link.ref
		case kindSymlink:
			t.writeInode(child, symlinkInode(t.header(child, typeSymlink), child.target))
		}
	}
	listingAt := t.dirs.pos()
	listing := appendListing(nil, dir.list)
	t.dirs.write(listing)
	t.writeInode(dir, dirInode(t.header(dir, typeDir), dir, parentIno, listingAt, len(listing)))
}

// writeFile writes a file's inode at its first entry, the link or the file.
func (t *tableWriter) writeFile(f *node) {
	if !f.written {
		t.writeInode(f, fileInode(t.header(f, typeFile), f.file, f.nlink))
		f.written = true
	}
}

func (t *tableWriter) writeInode(n *node, inode []byte) {
	n.ref = t.inodes.pos()
	t.inodes.write(inode)
}

// header encodes the common inode header with the basic type; the encoders
// switch it to the extended type when needed. uid and gid index 0 is id 0.
func (t *tableWriter) header(n *node, typ uint16) []byte {
	b := le.AppendUint16(nil, typ)
	b = le.AppendUint16(b, n.perm)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint32(b, t.mtime)
	return le.AppendUint32(b, n.ino)
}

// fileInode uses the basic layout unless offset or size need 64 bits or the
// file has hard links: the basic layout has no link count (it is 1).
func fileInode(b []byte, f *fileData, nlink uint32) []byte {
	if f.start <= math.MaxUint32 && f.size <= math.MaxUint32 && nlink == 1 {
		b = le.AppendUint32(b, uint32(f.start))
		b = le.AppendUint32(b, f.frag)
		b = le.AppendUint32(b, f.fragOff)
		b = le.AppendUint32(b, uint32(f.size))
	} else {
		le.PutUint16(b, typeExtFile)
		b = le.AppendUint64(b, f.start)
		b = le.AppendUint64(b, f.size)
		b = le.AppendUint64(b, 0) // sparse bytes: none, blocks are never sparse
		b = le.AppendUint32(b, nlink)
		b = le.AppendUint32(b, f.frag)
		b = le.AppendUint32(b, f.fragOff)
		b = le.AppendUint32(b, noXattr)
	}
	for _, blk := range f.blocks {
		b = le.AppendUint32(b, blk.size)
	}
	return b
}

func symlinkInode(b []byte, target string) []byte {
	b = le.AppendUint32(b, 1) // nlink
	b = le.AppendUint32(b, uint32(len(target)))
	return append(b, target...)
}

// dirInode uses the basic layout unless the listing is 64 KiB or more; the
// extended one is written without a directory index.
func dirInode(b []byte, dir *node, parentIno uint32, at metaRef, listingLen int) []byte {
	size := uint64(listingLen) + dirSizeImplied
	if size <= math.MaxUint16 {
		b = le.AppendUint32(b, uint32(at.block))
		b = le.AppendUint32(b, dirLinks(dir))
		b = le.AppendUint16(b, uint16(size))
		b = le.AppendUint16(b, at.offset)
		return le.AppendUint32(b, parentIno)
	}
	le.PutUint16(b, typeExtDir)
	b = le.AppendUint32(b, dirLinks(dir))
	b = le.AppendUint32(b, uint32(size))
	b = le.AppendUint32(b, uint32(at.block))
	b = le.AppendUint32(b, parentIno)
	b = le.AppendUint16(b, 0) // directory index entries
	b = le.AppendUint16(b, at.offset)
	return le.AppendUint32(b, noXattr)
}

// dirLinks is 2 ("." and the entry in the parent) plus one ".." per subdirectory.
func dirLinks(dir *node) uint32 {
	links := uint32(2)
	for _, child := range dir.list {
		if child.kind == kindDir {
			links++
		}
	}
	return links
}
