package qemu

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
)

var vmCount atomic.Int64

// vmName makes name safe for QEMU's -name and for file names; empty gets a unique name.
func vmName(name string) string {
	if name == "" {
		return fmt.Sprintf("vm-%d-%d", os.Getpid(), vmCount.Add(1))
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '_'
	}, name)
}

// resolveLogDir returns dir, or DefaultLogDir under the module root (the nearest folder
// up from the working directory with a go.mod), so `go test ./qemu` and `kiln run` from
// the repo both log to the repo's _out/qemu-logs.
func resolveLogDir(dir string) string {
	if dir != "" {
		return dir
	}
	wd, err := os.Getwd()
	if err != nil {
		return DefaultLogDir
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, DefaultLogDir)
		}
		if filepath.Dir(d) == d {
			return DefaultLogDir
		}
	}
}

// logFiles are the files a VM leaves in its log folder.
type logFiles struct {
	serial *os.File // <name>.log: command line, then the serial console
	qemu   *os.File // <name>.qemu.log: command line, QEMU's stderr, exit status
	events *os.File // <name>.events.jsonl: raw event lines; nil without WithEvents
}

func createLogFiles(dir, name string, events bool) (logFiles, error) {
	var lf logFiles
	var err error
	if lf.serial, err = os.Create(filepath.Join(dir, name+".log")); err != nil {
		return lf, err
	}
	if lf.qemu, err = os.Create(filepath.Join(dir, name+".qemu.log")); err != nil {
		lf.close()
		return lf, err
	}
	if events {
		if lf.events, err = os.Create(filepath.Join(dir, name+".events.jsonl")); err != nil {
			lf.close()
			return lf, err
		}
	}
	return lf, nil
}

func (lf logFiles) close() error {
	var errs []error
	for _, f := range []*os.File{lf.serial, lf.qemu, lf.events} {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	return errors.Join(errs...)
}

// eventsWriter returns the raw events file as a writer, nil without one.
func (lf logFiles) eventsWriter() io.Writer {
	if lf.events == nil {
		return nil
	}
	return lf.events
}
