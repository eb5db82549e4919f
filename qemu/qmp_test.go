package qemu

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const testGreeting = `{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}`

// fakeQMP is a QMP server on a unix socket: it sends greeting, then for each command
// received calls reply, which returns the raw lines to send back.
type fakeQMP struct {
	t        *testing.T
	greeting string
	reply    func(cmd map[string]any) []string
	received chan string
}

func (f *fakeQMP) serve(l net.Listener) {
	conn, err := l.Accept()
	if err != nil {
		return
	}
	defer conn.Close()
	if f.greeting != "" {
		conn.Write([]byte(f.greeting + "\r\n"))
	}
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		var cmd map[string]any
		if err := json.Unmarshal(sc.Bytes(), &cmd); err != nil {
			f.t.Errorf("fake qmp: bad command %q: %v", sc.Text(), err)
			return
		}
		name, _ := cmd["execute"].(string)
		f.received <- name
		for _, line := range f.reply(cmd) {
			conn.Write([]byte(line + "\r\n"))
		}
	}
}

// dialFake starts f on a fresh socket and returns a connection to it.
func dialFake(t *testing.T, f *fakeQMP) net.Conn {
	t.Helper()
	f.t = t
	f.received = make(chan string, 100)
	path := filepath.Join(t.TempDir(), "qmp.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go f.serve(l)
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func idOf(cmd map[string]any) string {
	b, _ := json.Marshal(cmd["id"])
	return string(b)
}

// answer replies to every command with return value ret, after an async event.
func answer(ret string) func(map[string]any) []string {
	return func(cmd map[string]any) []string {
		return []string{
			`{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "RTC_CHANGE", "data": {"offset": 0}}`,
			`{"return": ` + ret + `, "id": ` + idOf(cmd) + `}`,
		}
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestQMPHandshakeAndExecute(t *testing.T) {
	f := &fakeQMP{greeting: testGreeting, reply: answer(`{"status": "running", "running": true}`)}
	c, err := newQMPClient(testCtx(t), dialFake(t, f))
	if err != nil {
		t.Fatal(err)
	}
	if got := <-f.received; got != "qmp_capabilities" {
		t.Errorf("first command %q, want qmp_capabilities", got)
	}
	ret, err := c.Execute(testCtx(t), "query-status", nil)
	if err != nil {
		t.Fatal(err)
	}
	var status struct{ Status string }
	if err := json.Unmarshal(ret, &status); err != nil || status.Status != "running" {
		t.Errorf("query-status returned %s (%v)", ret, err)
	}
	if got := <-f.received; got != "query-status" {
		t.Errorf("second command %q, want query-status", got)
	}
}

func TestQMPArguments(t *testing.T) {
	args := make(chan any, 1)
	f := &fakeQMP{greeting: testGreeting, reply: func(cmd map[string]any) []string {
		if cmd["execute"] == "human-monitor-command" {
			args <- cmd["arguments"]
		}
		return []string{`{"return": {}, "id": ` + idOf(cmd) + `}`}
	}}
	c, err := newQMPClient(testCtx(t), dialFake(t, f))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Execute(testCtx(t), "human-monitor-command", map[string]string{"command-line": "info version"}); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(<-args)
	if string(got) != `{"command-line":"info version"}` {
		t.Errorf("arguments sent: %s", got)
	}
}

func TestQMPError(t *testing.T) {
	f := &fakeQMP{greeting: testGreeting, reply: func(cmd map[string]any) []string {
		if cmd["execute"] == "qmp_capabilities" {
			return []string{`{"return": {}, "id": ` + idOf(cmd) + `}`}
		}
		return []string{`{"error": {"class": "CommandNotFound", "desc": "The command nope has not been found"}, "id": ` + idOf(cmd) + `}`}
	}}
	c, err := newQMPClient(testCtx(t), dialFake(t, f))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Execute(testCtx(t), "nope", nil)
	var qerr *QMPError
	if !errors.As(err, &qerr) || qerr.Class != "CommandNotFound" || qerr.Command != "nope" {
		t.Fatalf("Execute(nope) = %v, want a *QMPError CommandNotFound", err)
	}
	// A QEMU error leaves the stream in sync: the client still works.
	if _, err := c.Execute(testCtx(t), "nope", nil); !errors.As(err, &qerr) {
		t.Errorf("second Execute = %v, want a *QMPError", err)
	}
}

func TestQMPSkipsForeignIDs(t *testing.T) {
	f := &fakeQMP{greeting: testGreeting, reply: func(cmd map[string]any) []string {
		return []string{
			`{"return": {"stale": true}, "id": 999}`,
			`{"return": {"stale": false}, "id": ` + idOf(cmd) + `}`,
		}
	}}
	c, err := newQMPClient(testCtx(t), dialFake(t, f))
	if err != nil {
		t.Fatal(err)
	}
	ret, err := c.Execute(testCtx(t), "query-status", nil)
	if err != nil || !strings.Contains(string(ret), `false`) {
		t.Errorf("Execute = %s, %v; want the answer with our id", ret, err)
	}
}

func TestQMPBadGreeting(t *testing.T) {
	f := &fakeQMP{greeting: `{"return": {}}`, reply: answer(`{}`)}
	if _, err := newQMPClient(testCtx(t), dialFake(t, f)); err == nil || !strings.Contains(err.Error(), "greeting") {
		t.Errorf("newQMPClient = %v, want a greeting error", err)
	}
}

func TestQMPTimeoutIsSticky(t *testing.T) {
	var silent atomic.Bool
	f := &fakeQMP{greeting: testGreeting, reply: func(cmd map[string]any) []string {
		if silent.Load() {
			return nil
		}
		return []string{`{"return": {}, "id": ` + idOf(cmd) + `}`}
	}}
	c, err := newQMPClient(testCtx(t), dialFake(t, f))
	if err != nil {
		t.Fatal(err)
	}
	silent.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.Execute(ctx, "query-status", nil); !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
		t.Errorf("Execute on a silent server = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("timeout took %v", d)
	}
	if _, err := c.Execute(testCtx(t), "query-status", nil); err == nil {
		t.Error("Execute after a timeout succeeded; the stream is out of sync and must stay broken")
	}
}

func TestQMPCancel(t *testing.T) {
	f := &fakeQMP{greeting: testGreeting, reply: func(cmd map[string]any) []string {
		if cmd["execute"] == "qmp_capabilities" {
			return []string{`{"return": {}, "id": ` + idOf(cmd) + `}`}
		}
		return nil
	}}
	c, err := newQMPClient(testCtx(t), dialFake(t, f))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background()) // no deadline
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	if _, err := c.Execute(ctx, "query-status", nil); err == nil {
		t.Error("Execute after cancel succeeded")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancel took %v to interrupt Execute", d)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
