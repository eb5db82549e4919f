package fat

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Errors returned by Write, wrapped with the path or option at fault.
var (
	ErrOptions  = errors.New("fat: invalid options")
	ErrSize     = errors.New("fat: size does not fit the FAT type")
	ErrPath     = errors.New("fat: invalid path")
	ErrExist    = errors.New("fat: entry already exists")
	ErrNotDir   = errors.New("fat: parent is not a directory")
	ErrTooLarge = errors.New("fat: file too large")
	ErrNoSpace  = errors.New("fat: no space left on the volume")
	ErrRootFull = errors.New("fat: root directory full")
)

// Type is the FAT variant, named by the width of a FAT entry.
type Type int

// FAT types. Auto picks one from the volume size.
const (
	Auto Type = iota
	FAT12
	FAT16
	FAT32
)

func (t Type) String() string {
	switch t {
	case Auto:
		return "auto"
	case FAT12:
		return "FAT12"
	case FAT16:
		return "FAT16"
	case FAT32:
		return "FAT32"
	}
	return fmt.Sprintf("Type(%d)", int(t))
}

// File is one regular file of the image.
type File struct {
	Path string // slash-separated, relative to the root
	Data []byte
}

// Options describe the volume.
type Options struct {
	Size     int64     // bytes, a multiple of 512
	Type     Type      // Auto (the default) chooses from Size
	Label    string    // at most 11 upper-case short-name characters; "" for none
	VolumeID uint32    // the serial number; derive it, never make it random
	ModTime  time.Time // every timestamp; clamped to 1980-01-01..2107-12-31
}

// Write writes the volume to w, from offset 0 to opts.Size. Free clusters are
// not written; see the package doc.
func Write(w io.WriterAt, opts Options, files []File) error {
	if err := checkLabel(opts.Label); err != nil {
		return err
	}
	geo, err := chooseGeometry(opts.Size, opts.Type)
	if err != nil {
		return err
	}
	root, err := buildTree(files)
	if err != nil {
		return err
	}
	vol := &volume{geo: geo, opts: opts, stamp: newStamp(opts.ModTime), root: root}
	if err := vol.allocate(); err != nil {
		return err
	}
	return vol.write(w)
}

// WriteFile writes the volume into a new sparse file at path, replacing any
// file there.
func WriteFile(path string, opts Options, files []File) (err error) {
	if _, err := chooseGeometry(opts.Size, opts.Type); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	if err := f.Truncate(opts.Size); err != nil {
		return err
	}
	return Write(f, opts, files)
}
