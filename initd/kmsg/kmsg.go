// Package kmsg reads the kernel log from /dev/kmsg for the API's Dmesg call.
//
// Each read of /dev/kmsg returns one record, "PRIORITY,SEQ,TIMESTAMP_US,FLAGS[,...];TEXT"
// followed by optional " KEY=VALUE" continuation lines (Documentation/ABI/testing/
// dev-kmsg). A reader that falls behind the kernel's ring gets EPIPE once and continues
// with the oldest record still there.
//
// The room: reading and parsing only; it never writes to /dev/kmsg.
package kmsg

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Device is the kernel's structured log.
const Device = "/dev/kmsg"

// Record is one kernel log message.
type Record struct {
	Priority int // syslog facility<<3 | level
	Seq      uint64
	Uptime   time.Duration // since boot
	Text     string
}

// Level is the syslog level (0 emerg … 7 debug).
func (r Record) Level() int { return r.Priority & 7 }

// Parse reads one record as /dev/kmsg returns it.
func Parse(rec []byte) (Record, error) {
	line := string(rec)
	if i := strings.IndexByte(line, '\n'); i >= 0 {
		line = line[:i] // continuation lines carry dictionary fields; the text is enough
	}
	head, text, ok := strings.Cut(line, ";")
	if !ok {
		return Record{}, fmt.Errorf("kmsg: record %.40q: no ';'", line)
	}
	fields := strings.Split(head, ",")
	if len(fields) < 3 {
		return Record{}, fmt.Errorf("kmsg: record %.40q: want PRIORITY,SEQ,TIMESTAMP", line)
	}
	prio, err1 := strconv.Atoi(fields[0])
	seq, err2 := strconv.ParseUint(fields[1], 10, 64)
	usec, err3 := strconv.ParseUint(fields[2], 10, 63)
	if err := errors.Join(err1, err2, err3); err != nil || prio < 0 {
		return Record{}, fmt.Errorf("kmsg: record %.40q: bad header", line)
	}
	return Record{Priority: prio, Seq: seq, Uptime: time.Duration(usec) * time.Microsecond, Text: unescape(text)}, nil
}

// unescape undoes the kernel's \xNN escaping of non-printable bytes.
func unescape(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Read sends the records in the kernel's ring to out, oldest first; with follow it then
// waits for new ones until ctx ends. tail < 0 sends the whole ring, else its last tail
// records (0: none, only what comes next).
func Read(ctx context.Context, device string, tail int, follow bool, out func(Record) error) error {
	fd, err := unix.Open(device, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: device, Err: err}
	}
	f := os.NewFile(uintptr(fd), device) // the poller makes reads cancellable
	defer f.Close()
	backlog, err := drain(f)
	if err != nil {
		return err
	}
	if tail >= 0 && tail < len(backlog) {
		backlog = backlog[len(backlog)-tail:]
	}
	for _, r := range backlog {
		if err := out(r); err != nil {
			return err
		}
	}
	if !follow {
		return nil
	}
	stop := context.AfterFunc(ctx, func() { f.SetReadDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, 8192)
	for {
		r, err := readOne(f, buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return ctx.Err()
		}
		if err != nil {
			return err
		}
		if r == nil {
			continue
		}
		if err := out(*r); err != nil {
			return err
		}
	}
}

// drain reads every record currently in the ring without waiting.
func drain(f *os.File) ([]Record, error) {
	f.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	defer f.SetReadDeadline(time.Time{})
	var recs []Record
	buf := make([]byte, 8192)
	for {
		r, err := readOne(f, buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return recs, nil
		}
		if err != nil {
			return recs, err
		}
		if r != nil {
			recs = append(recs, *r)
		}
	}
}

// readOne reads one record; a lost-records EPIPE or an unparsable record yields nil.
func readOne(f *os.File, buf []byte) (*Record, error) {
	n, err := f.Read(buf)
	if errors.Is(err, unix.EPIPE) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r, perr := Parse(buf[:n])
	if perr != nil {
		return nil, nil
	}
	return &r, nil
}
