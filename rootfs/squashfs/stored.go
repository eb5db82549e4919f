package squashfs

import (
	"path"
	"sort"
)

// FileStored is one regular file's share of an image.
type FileStored struct {
	Path   string // slash-separated, relative to the root
	Size   uint64 // the file's length
	Stored uint64 // the bytes its content takes in the image
}

// Stored lists every regular file with the bytes its content takes in the image, largest
// first (then by path): its compressed blocks, plus its tail's share of the fragment block
// the tail sits in (the fragment's stored length in proportion to the tail's length). The
// metadata tables are left out. It is meant for size reports, after a Close that
// succeeded; before, it is nil.
func (w *Writer) Stored() []FileStored {
	if w.layout == nil {
		return nil
	}
	var out []FileStored
	var walk func(dir *node, prefix string)
	walk = func(dir *node, prefix string) {
		for _, child := range dir.list {
			p := path.Join(prefix, child.name)
			switch child.kind {
			case kindDir:
				walk(child, p)
			case kindFile:
				out = append(out, FileStored{Path: p, Size: child.file.size, Stored: w.layout.stored(child.file)})
			}
		}
	}
	walk(w.root, "")
	sort.Slice(out, func(i, j int) bool {
		if out[i].Stored != out[j].Stored {
			return out[i].Stored > out[j].Stored
		}
		return out[i].Path < out[j].Path
	})
	return out
}

// stored is f's blocks plus its tail's share of its fragment block.
func (l *dataLayout) stored(f *fileData) uint64 {
	var n uint64
	for _, b := range f.blocks {
		n += uint64(len(b.data))
	}
	if f.frag != noFragment && l.fragRaw[f.frag] > 0 {
		n += uint64(len(l.frags[f.frag].data)) * uint64(len(f.tail)) / uint64(l.fragRaw[f.frag])
	}
	return n
}
