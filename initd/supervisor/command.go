package supervisor

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// Command runs one program to its end under the Reaper (machined's one waiter), with
// stdin as its standard input (nil: /dev/null), and returns what it wrote to stdout.
// stdout goes to out when out is non-nil (and is then not returned). The error of a
// failed run carries the start of its stderr. ctx ending kills it.
func (r *Reaper) Command(ctx context.Context, argv, env []string, stdin []byte, out io.Writer) ([]byte, error) {
	in, feed, err := stdinFile(stdin)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, err
	}
	child, err := r.Start(argv[0], argv, &os.ProcAttr{Env: env, Files: []*os.File{in, outW, errW}})
	outW.Close()
	errW.Close()
	in.Close()
	feed()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	var stdout, stderr bytes.Buffer
	if out == nil {
		out = &stdout
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); io.Copy(out, outR); outR.Close() }()
	go func() { defer wg.Done(); io.Copy(&limitedBuffer{buf: &stderr, max: 8 << 10}, errR); errR.Close() }()
	select {
	case <-child.Done():
	case <-ctx.Done():
		// The child is ours alone: kill it, then wait for the reaper to collect it.
		if p, err := os.FindProcess(child.Pid); err == nil {
			p.Kill()
		}
		<-child.Done()
	}
	wg.Wait()
	if err := child.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(stderr.String()))
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return stdout.Bytes(), nil
}

// stdinFile is the child's standard input: /dev/null, or the read end of a pipe that
// feed fills (after the child has started) and closes.
func stdinFile(data []byte) (*os.File, func(), error) {
	if data == nil {
		f, err := os.Open(os.DevNull)
		return f, func() {}, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	return r, func() { go func() { w.Write(data); w.Close() }() }, nil
}

// limitedBuffer keeps the first max bytes written to it and drops the rest.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
