package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// qmpTimeout bounds a QMP exchange whose context has no deadline.
const qmpTimeout = 30 * time.Second

// QMPError is an error QEMU returned for a command.
type QMPError struct {
	Command string
	Class   string
	Desc    string
}

func (e *QMPError) Error() string {
	return fmt.Sprintf("qmp %s: %s: %s", e.Command, e.Class, e.Desc)
}

// qmpMessage is any object QEMU sends: the greeting, a response or an async event.
type qmpMessage struct {
	Greeting *struct {
		Version struct {
			QEMU struct{ Major, Minor, Micro int } `json:"qemu"`
		} `json:"version"`
	} `json:"QMP"`
	Return json.RawMessage `json:"return"`
	Error  *struct {
		Class string `json:"class"`
		Desc  string `json:"desc"`
	} `json:"error"`
	Event string          `json:"event"`
	ID    json.RawMessage `json:"id"`
}

type qmpCommand struct {
	Execute   string `json:"execute"`
	Arguments any    `json:"arguments,omitempty"`
	ID        uint64 `json:"id"`
}

// qmpClient speaks QMP on one connection, one command at a time. Async events are
// skipped. A timed-out exchange leaves the stream mid-message, so the error sticks.
type qmpClient struct {
	mu     sync.Mutex
	conn   net.Conn
	dec    *json.Decoder
	enc    *json.Encoder
	nextID uint64
	broken error
}

// newQMPClient reads the greeting and leaves capabilities negotiation mode.
func newQMPClient(ctx context.Context, conn net.Conn) (*qmpClient, error) {
	c := &qmpClient{conn: conn, dec: json.NewDecoder(conn), enc: json.NewEncoder(conn)}
	if err := c.readGreeting(ctx); err != nil {
		return nil, err
	}
	if _, err := c.Execute(ctx, "qmp_capabilities", nil); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *qmpClient) readGreeting(ctx context.Context) error {
	defer c.bound(ctx)()
	var m qmpMessage
	if err := c.dec.Decode(&m); err != nil {
		return fmt.Errorf("qmp greeting: %w", err)
	}
	if m.Greeting == nil {
		return errors.New("qmp greeting: first message has no QMP key")
	}
	return nil
}

// Execute runs command with args (nil for none) and returns the "return" value.
func (c *qmpClient) Execute(ctx context.Context, command string, args any) (json.RawMessage, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return nil, fmt.Errorf("qmp %s: %w", command, c.broken)
	}
	defer c.bound(ctx)()
	c.nextID++
	ret, err := c.exchange(qmpCommand{Execute: command, Arguments: args, ID: c.nextID})
	var qerr *QMPError
	if err != nil && !errors.As(err, &qerr) {
		c.broken = err
	}
	return ret, err
}

func (c *qmpClient) exchange(cmd qmpCommand) (json.RawMessage, error) {
	if err := c.enc.Encode(cmd); err != nil {
		return nil, fmt.Errorf("qmp %s: send: %w", cmd.Execute, err)
	}
	want := fmt.Sprint(cmd.ID)
	for {
		var m qmpMessage
		if err := c.dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("qmp %s: receive: %w", cmd.Execute, err)
		}
		if m.Event != "" || string(m.ID) != want {
			continue
		}
		if m.Error != nil {
			return nil, &QMPError{Command: cmd.Execute, Class: m.Error.Class, Desc: m.Error.Desc}
		}
		return m.Return, nil
	}
}

// bound applies ctx's deadline (or qmpTimeout) and cancellation to the connection until
// the returned func is called.
func (c *qmpClient) bound(ctx context.Context) (release func()) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(qmpTimeout)
	}
	c.conn.SetDeadline(deadline)
	// released keeps a late cancellation from touching the next exchange's deadline.
	var mu sync.Mutex
	released := false
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !released {
			c.conn.SetDeadline(time.Unix(1, 0))
		}
	})
	return func() {
		stop()
		mu.Lock()
		released = true
		mu.Unlock()
		c.conn.SetDeadline(time.Time{})
	}
}

// Close closes the connection.
func (c *qmpClient) Close() error { return c.conn.Close() }
