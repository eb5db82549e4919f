package stateheader

import (
	"fmt"
	"io"
	"os"
)

// Syncer is a WriterAt that can flush to stable storage (an *os.File).
type Syncer interface {
	io.WriterAt
	Sync() error
}

// Write writes both copies of h into the header area of dev: copy 0, fsync, copy 1,
// fsync, so that at every instant at least one complete copy is on the disk.
func Write(dev Syncer, h Header) error {
	area, err := Marshal(h)
	if err != nil {
		return err
	}
	for _, off := range copyOffsets {
		if _, err := dev.WriteAt(area[off:off+CopySize], off); err != nil {
			return fmt.Errorf("write header copy at byte %d: %w", off, err)
		}
		if err := dev.Sync(); err != nil {
			return fmt.Errorf("fsync header copy at byte %d: %w", off, err)
		}
	}
	return nil
}

// Read reads the header area of dev and parses it (see Parse).
func Read(dev io.ReaderAt) (Header, []error, error) {
	area := make([]byte, AreaSize)
	if _, err := dev.ReadAt(area, 0); err != nil {
		if f, ok := dev.(*os.File); ok {
			return Header{}, nil, fmt.Errorf("read STATE header area of %s: %w", f.Name(), err)
		}
		return Header{}, nil, fmt.Errorf("read STATE header area: %w", err)
	}
	return Parse(area)
}
