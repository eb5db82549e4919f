package fat

import (
	"fmt"
	"io"
)

// volume is one image being written: the geometry, the tree, and the
// clusters handed out so far.
type volume struct {
	geo   geometry
	opts  Options
	stamp stamp
	root  *node
	next  uint32  // the next free cluster
	used  []*node // nodes with clusters, in allocation order
}

// allocate gives every directory and non-empty file its clusters, contiguous,
// depth first in name order. The FAT32 root comes first, at cluster 2.
func (v *volume) allocate() error {
	v.next = 2
	return v.allocateDir(v.root)
}

func (v *volume) allocateDir(d *node) error {
	entries := d.dirEntries(d == v.root, v.opts.Label != "")
	if d == v.root && v.geo.typ != FAT32 {
		if entries > int(v.geo.rootEntries) {
			return fmt.Errorf("%w: %d entries, %d fit", ErrRootFull, entries, v.geo.rootEntries)
		}
	} else if err := v.take(d, max(1, v.geo.clustersFor(int64(entries)*dirEntrySize))); err != nil {
		return err
	}
	for _, c := range d.children {
		var err error
		switch {
		case c.dir:
			err = v.allocateDir(c)
		case len(c.data) > 0:
			err = v.take(c, v.geo.clustersFor(int64(len(c.data))))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// take hands n clusters to node.
func (v *volume) take(n *node, count uint32) error {
	if uint64(v.next)+uint64(count) > uint64(v.geo.clusters)+2 {
		return fmt.Errorf("%w: %s needs %d clusters of %d bytes, %d are free",
			ErrNoSpace, n.path, count, v.geo.clusterBytes(), v.freeClusters())
	}
	n.cluster, n.clusters = v.next, count
	v.next += count
	v.used = append(v.used, n)
	return nil
}

func (v *volume) freeClusters() uint32 { return v.geo.clusters + 2 - v.next }

// write lays the volume out on w: boot region, FATs, directories, files.
func (v *volume) write(w io.WriterAt) error {
	if _, err := w.WriteAt(v.bootRegion(), 0); err != nil {
		return fmt.Errorf("fat: boot region: %w", err)
	}
	table := v.table()
	for i := range fatCount {
		if _, err := w.WriteAt(table, v.geo.fatOffset(i)); err != nil {
			return fmt.Errorf("fat: FAT %d: %w", i+1, err)
		}
	}
	if v.geo.typ != FAT32 {
		if _, err := w.WriteAt(v.dirBytes(v.root, nil, int64(v.geo.rootSectors())*sectorSize), v.geo.rootOffset()); err != nil {
			return fmt.Errorf("fat: root directory: %w", err)
		}
	}
	return v.writeTree(w, v.root, nil)
}

// writeTree writes directory d (unless it is the fixed FAT12/16 root), then
// the clusters of its children.
func (v *volume) writeTree(w io.WriterAt, d, parent *node) error {
	if d.clusters > 0 {
		if err := v.writeClusters(w, d, v.dirBytes(d, parent, int64(d.clusters)*v.geo.clusterBytes())); err != nil {
			return err
		}
	}
	for _, c := range d.children {
		var err error
		switch {
		case c.dir:
			err = v.writeTree(w, c, d)
		case c.clusters > 0:
			err = v.writeClusters(w, c, c.data)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// writeClusters writes data at n's clusters and zeros up to their end.
func (v *volume) writeClusters(w io.WriterAt, n *node, data []byte) error {
	off := v.geo.clusterOffset(n.cluster)
	if _, err := w.WriteAt(data, off); err != nil {
		return fmt.Errorf("fat: %s: %w", n.path, err)
	}
	if tail := int64(n.clusters)*v.geo.clusterBytes() - int64(len(data)); tail > 0 {
		if _, err := w.WriteAt(make([]byte, tail), off+int64(len(data))); err != nil {
			return fmt.Errorf("fat: %s: %w", n.path, err)
		}
	}
	return nil
}

// dirBytes encodes directory d, padded with free entries to size bytes.
func (v *volume) dirBytes(d, parent *node, size int64) []byte {
	buf := make([]byte, 0, size)
	switch {
	case d != v.root:
		buf = v.stamp.appendEntry(buf, makeShortName(".", ""), attrDirectory, d.cluster, 0)
		buf = v.stamp.appendEntry(buf, makeShortName("..", ""), attrDirectory, parentCluster(parent, v.root), 0)
	case v.opts.Label != "":
		buf = v.stamp.appendEntry(buf, labelName(v.opts.Label), attrVolumeID, 0, 0)
	}
	for _, c := range d.children {
		if c.lfn {
			buf = appendLFN(buf, c.name, c.short.checksum())
		}
		attr, size := byte(attrArchive), uint32(len(c.data))
		if c.dir {
			attr = attrDirectory
		}
		buf = v.stamp.appendEntry(buf, c.short, attr, c.cluster, size)
	}
	return buf[:size]
}

// parentCluster is what ".." points to: 0 stands for the root on every type.
func parentCluster(parent, root *node) uint32 {
	if parent == root {
		return 0
	}
	return parent.cluster
}

func labelName(label string) shortName {
	var s shortName
	copy(s[:], fmt.Sprintf("%-11s", label))
	return s
}
