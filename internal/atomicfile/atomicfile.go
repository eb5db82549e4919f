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
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := writeSync(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// Copy replaces dst with the contents of src.
func Copy(dst, src string, mode os.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return Write(dst, data, mode)
}

func writeSync(f *os.File, data []byte, mode os.FileMode) error {
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
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
