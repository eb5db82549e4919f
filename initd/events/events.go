// Package events defines the boot event: one JSON object per line that machined writes to
// the virtio-serial port named kiln.events (and, in human form, to the console).
//
// It is a shared leaf package: machined writes events, the QEMU harness and the tests read
// them. It imports nothing of the node or the builder.
package events

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Types of events.
const (
	TypeBoot    = "boot"
	TypePhase   = "phase"
	TypeTask    = "task"
	TypeService = "service"
	TypeInfo    = "info"
	// TypeContainer is a workload of machine.containers changing state; its State is
	// the container's (runtime/ContainerStatus).
	TypeContainer = "container"
)

// States an event can report.
const (
	StateStarted  = "started"
	StateDone     = "done"
	StateFailed   = "failed"
	StateReady    = "ready"
	StateRunning  = "running"
	StateStopped  = "stopped"
	StateWaiting  = "waiting"
	StateHealthy  = "healthy"
	StateShutdown = "shutdown"
	StateReboot   = "reboot"
)

// PortName is the name of the virtio-serial port events are written to.
const PortName = "kiln.events"

// Event is one transition. Fields carries extra facts (e.g. "secureboot": "1").
type Event struct {
	// Seq numbers the events of one boot from 1, so a client can resume a stream.
	Seq    uint64            `json:"seq,omitempty"`
	Time   time.Time         `json:"time"`
	Type   string            `json:"type"`
	Name   string            `json:"name"`
	State  string            `json:"state"`
	Error  string            `json:"error,omitempty"`
	Fields map[string]string `json:"fields,omitempty"`
}

// Marshal returns the event as one line of JSON, newline included.
func (e Event) Marshal() []byte {
	b, err := json.Marshal(e)
	if err != nil {
		// Event holds only strings and a time: encoding cannot fail.
		panic(err)
	}
	return append(b, '\n')
}

// Parse reads one line of JSON into an Event.
func Parse(line []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(line, &e); err != nil {
		return Event{}, fmt.Errorf("events: parse %q: %w", line, err)
	}
	if e.Type == "" || e.State == "" {
		return Event{}, fmt.Errorf("events: parse %q: missing type or state", line)
	}
	return e, nil
}

// String renders the event for the console: "[phase] EarlyMounts: done".
func (e Event) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] %s: %s", e.Type, e.Name, e.State)
	if e.Error != "" {
		fmt.Fprintf(&b, ": %s", e.Error)
	}
	for _, k := range sortedKeys(e.Fields) {
		fmt.Fprintf(&b, " %s=%s", k, e.Fields[k])
	}
	return b.String()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
