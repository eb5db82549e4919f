package supervisor

import (
	"context"
	"errors"
)

// Service is one supervised thing. Start must return once the service is launched (not
// when it ends); Health returns nil when the service is healthy.
type Service interface {
	Name() string
	DependsOn() []string
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	Health(ctx context.Context) error
}

// waiter is implemented by services backed by a process, so that an exit is noticed at
// once rather than at the next health check.
type waiter interface {
	// Wait blocks until the process of the last Start exits (nil for status 0) or ctx ends.
	Wait(ctx context.Context) error
}

// pider is implemented by services that can name their main process.
type pider interface {
	Pid() int // 0 when not running
}

// cgrouper is implemented by services that run in a cgroup of their own.
type cgrouper interface {
	Cgroup() string // "" when it has none
}

// States a service goes through; they are the State of its events.
const (
	StateWaiting    = "waiting" // for its dependencies to become healthy
	StateStarting   = "starting"
	StateRunning    = "running" // started, not (or no longer) healthy
	StateHealthy    = "healthy"
	StateFailed     = "failed" // the run ended; Error says why
	StateRestarting = "restarting"
	StateStopping   = "stopping"
	StateStopped    = "stopped"
)

// Errors.
var (
	// ErrGraph is wrapped by every error about the dependency graph.
	ErrGraph = errors.New("supervisor: invalid service graph")
	// ErrExited is wrapped when a service's process exits on its own.
	ErrExited = errors.New("supervisor: process exited")
	// ErrNotRunning is returned by ProcessService methods that need a running process.
	ErrNotRunning = errors.New("supervisor: process not running")
)
