package kernel

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// toolchain identifies the host tools whose versions change the kernel's bytes.
type toolchain struct{ id string }

func probeToolchain(ctx context.Context) (toolchain, error) {
	var parts []string
	for _, argv := range [][]string{{"gcc", "--version"}, {"ld", "--version"}, {"make", "--version"}, {"zstd", "--version"}} {
		out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).Output()
		if err != nil {
			return toolchain{}, fmt.Errorf("kernel: %s is needed to build the kernel (run `make deps`): %w", argv[0], err)
		}
		first, _, _ := strings.Cut(string(out), "\n")
		parts = append(parts, first)
	}
	return toolchain{id: strings.Join(parts, "\n")}, nil
}

func numCPU() int { return runtime.NumCPU() }

// extract unpacks the kernel tarball into dir and returns the source tree's path.
func extract(ctx context.Context, tarball, dir string) (string, error) {
	cmd := exec.CommandContext(ctx, "tar", "-xJf", tarball, "-C", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("kernel: extract %s: %w: %s", tarball, err, bytes.TrimSpace(out))
	}
	return filepath.Join(dir, SourceDir), nil
}

// runMake runs make in the source tree with the fixed build environment and returns its output.
func runMake(ctx context.Context, src string, out io.Writer, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "make", append([]string{"-s"}, args...)...)
	cmd.Dir = src
	cmd.Env = buildEnv()
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if out != nil {
		cmd.Stdout, cmd.Stderr = io.MultiWriter(&buf, out), io.MultiWriter(&buf, out)
	}
	if err := cmd.Run(); err != nil {
		return buf.Bytes(), fmt.Errorf("kernel: make %s: %w\n%s", strings.Join(args, " "), err, tail(buf.Bytes(), 30))
	}
	return buf.Bytes(), nil
}

// makeWithProgress runs the long build, writes its whole output to b.LogPath, logs progress
// every 30 seconds and shows the log's tail when it fails.
func (b *Builder) makeWithProgress(ctx context.Context, src string, args []string) error {
	logFile := io.Discard
	if b.LogPath != "" {
		if err := os.MkdirAll(filepath.Dir(b.LogPath), 0o755); err != nil {
			return err
		}
		f, err := os.Create(b.LogPath)
		if err != nil {
			return err
		}
		defer f.Close()
		logFile = f
	}
	prog := &progress{}
	cmd := exec.CommandContext(ctx, "make", args...)
	cmd.Dir, cmd.Env = src, buildEnv()
	w := io.MultiWriter(logFile, prog)
	cmd.Stdout, cmd.Stderr = w, w
	done := make(chan struct{})
	defer close(done)
	go prog.report(b.Log, time.Now(), done)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kernel: make %s: %w (full log: %s); last lines:\n%s", strings.Join(args, " "), err, b.LogPath, prog.tail(40))
	}
	return nil
}

// progress keeps the last lines of the build output.
type progress struct {
	mu    sync.Mutex
	lines []string
	count int
	part  []byte
}

func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.part = append(p.part, b...)
	for {
		i := bytes.IndexByte(p.part, '\n')
		if i < 0 {
			break
		}
		p.lines = append(p.lines, string(p.part[:i]))
		p.part = p.part[i+1:]
		p.count++
		if len(p.lines) > 200 {
			p.lines = p.lines[100:]
		}
	}
	return len(b), nil
}

func (p *progress) tail(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	start := max(0, len(p.lines)-n)
	return strings.Join(p.lines[start:], "\n")
}

func (p *progress) report(log logrus.FieldLogger, start time.Time, done <-chan struct{}) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			p.mu.Lock()
			last, count := "", p.count
			if len(p.lines) > 0 {
				last = strings.TrimSpace(p.lines[len(p.lines)-1])
			}
			p.mu.Unlock()
			log.WithFields(logrus.Fields{"elapsed": time.Since(start).Round(time.Second), "lines": count, "at": last}).Info("kernel: building")
		}
	}
}

func tail(b []byte, n int) string {
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
