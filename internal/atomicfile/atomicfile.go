// Package atomicfile writes files so that a reader sees the old bytes or the new ones,
// never a mix, and a crash loses nothing that was there: write a temporary file beside
// the target, fsync it, rename it over the target, fsync the directory.
//
// It is a shared leaf package for the builder and the node.
package atomicfile

import (
	"io/fs"
	"os"
	"path/filepath"
)

// Write replaces path with data, creating parent directories as needed.
func Write(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	p, err := Create(dir, filepath.Base(path))
	if err != nil {
		return err
	}
	defer p.Discard()
	if _, err := p.Write(data); err != nil {
		return err
	}
	return p.Commit(filepath.Base(path), mode)
}

// Pending is a file being written beside its target: nothing at the target changes until
// Commit, and Discard (deferred by the caller) removes it when Commit never came. For
// contents that are streamed, or whose name is known only once they are read (a digest).
type Pending struct {
	f         *os.File
	dir       string
	committed bool
}

// Create starts a pending file in dir; hint goes into the temporary name.
func Create(dir, hint string) (*Pending, error) {
	f, err := os.CreateTemp(dir, "."+hint+".tmp*")
	if err != nil {
		return nil, err
	}
	return &Pending{f: f, dir: dir}, nil
}

// Write appends to the pending file.
func (p *Pending) Write(b []byte) (int, error) { return p.f.Write(b) }

// Commit gives the pending file its mode, syncs it and renames it to name in its
// directory, then syncs the directory.
func (p *Pending) Commit(name string, mode os.FileMode) error {
	if err := p.f.Chmod(mode); err != nil {
		return err
	}
	if err := p.f.Sync(); err != nil {
		return err
	}
	if err := p.f.Close(); err != nil {
		return err
	}
	if err := os.Rename(p.f.Name(), filepath.Join(p.dir, name)); err != nil {
		return err
	}
	p.committed = true
	return SyncDir(p.dir)
}

// Discard removes the pending file unless it was committed.
func (p *Pending) Discard() {
	if p.committed {
		return
	}
	p.f.Close()
	os.Remove(p.f.Name())
}

// Copy replaces dst with the contents of src.
func Copy(dst, src string, mode os.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return Write(dst, data, mode)
}

// SyncDir fsyncs a directory so that a rename inside it is durable.
func SyncDir(dir string) error { return Sync(dir) }

// Sync fsyncs the file or directory at path. After a rename on vfat, fsync the file under
// its new name before its directory: the rename writes the new directory entry without
// cluster and size, and only writing the inode back fills them in (Linux 6.1
// fs/fat/namei_vfat.c vfat_rename, fs/fat/inode.c fat_write_inode).
func Sync(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return &fs.PathError{Op: "fsync", Path: path, Err: err}
	}
	return nil
}
