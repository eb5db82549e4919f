package containers

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// maxLine bounds one log line; a longer line is cut into lines of this size.
const maxLine = 16 << 10

// drainWait is how long output is still read after the task has exited: what the
// container wrote is in the pipe by then, so this only has to cover the read itself.
const drainWait = 200 * time.Millisecond

// running is the output of a started container: its two FIFOs, read by one goroutine
// each into the container's log, and the context its wait runs in.
type running struct {
	ctx        context.Context
	cancel     context.CancelFunc
	stdoutPath string
	stderrPath string
	task       *task // nil until the task has started; under Client.mu
	files      []*os.File
	copiers    sync.WaitGroup
	once       sync.Once
}

// openOutput makes the FIFOs stdout and stderr in dir and starts copying them to out.
// Each is opened read-write: the open does not wait for the shim to open its end, and
// the reader never sees end-of-file before the shim has written (a read-only FIFO with
// no writer yet reads as empty), so no first line is lost. The copy ends at drain.
func openOutput(dir string, out io.Writer) (*running, error) {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{ctx: ctx, cancel: cancel,
		stdoutPath: filepath.Join(dir, "stdout"), stderrPath: filepath.Join(dir, "stderr")}
	lw := &lineWriter{out: out}
	for _, p := range []string{r.stdoutPath, r.stderrPath} {
		if err := unix.Mkfifo(p, 0o600); err != nil {
			r.stop()
			return nil, &os.PathError{Op: "mkfifo", Path: p, Err: err}
		}
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			r.stop()
			return nil, err
		}
		r.files = append(r.files, f)
		r.copiers.Add(1)
		go func() {
			defer r.copiers.Done()
			copyLines(lw, f)
		}()
	}
	return r, nil
}

// drain lets the copiers read what is left, then closes the FIFOs; it is for a task
// that has exited. Later calls do nothing.
func (r *running) drain() {
	r.once.Do(func() {
		for _, f := range r.files {
			f.SetReadDeadline(time.Now().Add(drainWait)) //nolint:errcheck // a FIFO is pollable
		}
		r.copiers.Wait()
		for _, f := range r.files {
			f.Close()
		}
	})
}

// stop ends the wait on the task and drains its output.
func (r *running) stop() {
	r.cancel()
	r.drain()
}

// copyLines copies lines from f to w, one Write per line, until f fails (its read
// deadline passes or it is closed); a last line without a newline gets one.
func copyLines(w io.Writer, f io.Reader) {
	br := bufio.NewReaderSize(f, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			w.Write(line) //nolint:errcheck // the log ring does not fail
		case errors.Is(err, bufio.ErrBufferFull):
			w.Write(append(line, '\n')) //nolint:errcheck
		default:
			if len(line) > 0 {
				w.Write(append(line, '\n')) //nolint:errcheck
			}
			return
		}
	}
}

// lineWriter serialises the two streams' lines into one log.
type lineWriter struct {
	mu  sync.Mutex
	out io.Writer
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.out.Write(p)
}
