package iso

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Errors returned by Write, wrapped with the path or option at fault.
var (
	ErrOptions  = errors.New("iso: invalid options")
	ErrPath     = errors.New("iso: invalid path")
	ErrExist    = errors.New("iso: entry already exists")
	ErrNotDir   = errors.New("iso: parent is not a directory")
	ErrTooLarge = errors.New("iso: too large")
	ErrBoot     = errors.New("iso: invalid boot image")
)

// File is one regular file of the image.
type File struct {
	Path string // slash-separated, relative to the root
	Data []byte
}

// Options describe the volume.
type Options struct {
	VolumeID string    // at most 32 d-characters (A-Z, 0-9, "_"), e.g. "KILN_0_1_0"
	ModTime  time.Time // every date; clamped to 1900..2155
	// EFIBootImage is the path of one of the files, a FAT volume that the El
	// Torito catalog makes the UEFI boot entry; "" writes no boot record.
	EFIBootImage string
	// HybridMBR writes an MBR partition table in the system area with one
	// EFI System partition (type 0xEF) over the boot image, so the same image
	// written to a USB stick boots too. It needs EFIBootImage.
	HybridMBR bool
}

// Write writes the image to w.
func Write(w io.Writer, opts Options, files []File) error {
	im, err := plan(opts, files)
	if err != nil {
		return err
	}
	return im.write(w)
}

// WriteFile writes the image to a new file at path.
func WriteFile(path string, opts Options, files []File) (err error) {
	im, err := plan(opts, files)
	if err != nil {
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
	return im.write(f)
}

// plan checks the input and lays the image out.
func plan(opts Options, files []File) (*image, error) {
	if err := checkVolumeID(opts.VolumeID); err != nil {
		return nil, err
	}
	root, err := buildTree(files)
	if err != nil {
		return nil, err
	}
	im := &image{opts: opts, root: root}
	if opts.HybridMBR && opts.EFIBootImage == "" {
		return nil, fmt.Errorf("%w: HybridMBR without EFIBootImage", ErrOptions)
	}
	if opts.EFIBootImage != "" {
		if im.boot, err = root.find(opts.EFIBootImage); err != nil {
			return nil, err
		}
	}
	if err := im.layout(); err != nil {
		return nil, err
	}
	return im, nil
}

func checkVolumeID(id string) error {
	if len(id) > 32 || !isDChars(id) {
		return fmt.Errorf("%w: volume ID %q is not at most 32 of A-Z, 0-9 and _", ErrOptions, id)
	}
	return nil
}
