package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/initd/events"
)

// Config tunes supervision; zero fields take the defaults in brackets.
type Config struct {
	Log logrus.FieldLogger
	// Emit receives service events in the order of the state changes. Calls are
	// serialized; Emit must not call back into the Supervisor.
	Emit func(events.Event)

	HealthInterval   time.Duration // between health checks [5s]
	HealthTimeout    time.Duration // one check [HealthInterval]
	StartTimeout     time.Duration // from Start to the first healthy check [1m]
	FailureThreshold int           // failed checks in a row that restart a healthy service [3]
	BackoffBase      time.Duration // first restart delay [1s]
	BackoffMax       time.Duration // restart delay cap [1m]
	BackoffReset     time.Duration // a run healthy this long resets the delay [2m]
	// StopTimeout bounds one service's Stop; it must exceed the services' own
	// SIGTERM-to-SIGKILL timeouts [30s].
	StopTimeout time.Duration
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.HealthInterval, 5*time.Second)
	def(&c.HealthTimeout, c.HealthInterval)
	def(&c.StartTimeout, time.Minute)
	def(&c.BackoffBase, time.Second)
	def(&c.BackoffMax, time.Minute)
	def(&c.BackoffReset, 2*time.Minute)
	def(&c.StopTimeout, 30*time.Second)
	if c.FailureThreshold <= 0 {
		c.FailureThreshold = 3
	}
	if c.Log == nil {
		discard := logrus.New()
		discard.Out = io.Discard
		c.Log = discard
	}
	return c
}

// Supervisor runs a fixed set of services. Start and Stop are each called once.
type Supervisor struct {
	cfg   Config
	units []*unit // dependencies before dependents

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every state change
	started  bool
	stopping bool

	emitMu sync.Mutex
}

// Status is one service as the API shows it.
type Status struct {
	Name      string
	State     string
	Restarts  int
	LastError string
	Pid       int    // 0 when no process runs or the service has none
	Cgroup    string // the running process's cgroup directory; "" without one
	Since     time.Time
}

// New checks the dependency graph and returns a Supervisor that has started nothing.
func New(cfg Config, services ...Service) (*Supervisor, error) {
	ordered, err := orderServices(services)
	if err != nil {
		return nil, err
	}
	s := &Supervisor{cfg: cfg.withDefaults(), changed: make(chan struct{})}
	byName := map[string]*unit{}
	for _, svc := range ordered {
		u := s.newUnit(svc)
		for _, dep := range svc.DependsOn() {
			u.deps = append(u.deps, byName[dep])
			byName[dep].dependents = append(byName[dep].dependents, u)
		}
		byName[svc.Name()] = u
		s.units = append(s.units, u)
	}
	return s, nil
}

// Start launches supervision of every service and returns at once. Services live until
// Stop, whatever the caller's context does.
func (s *Supervisor) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.stopping {
		return errors.New("supervisor: Start called twice or after Stop")
	}
	s.started = true
	for _, u := range s.units {
		ctx, cancel := context.WithCancel(context.Background())
		u.cancel = cancel
		go s.supervise(ctx, u)
	}
	return nil
}

// Stop stops all services, dependents before their dependencies, and returns when all
// are stopped or ctx ends; in the latter case the remaining ones are told to stop at once
// and the error names them.
func (s *Supervisor) Stop(ctx context.Context) error {
	s.mu.Lock()
	started := s.started
	s.stopping = true
	s.mu.Unlock()
	if !started {
		return nil
	}
	var wg sync.WaitGroup
	for _, u := range s.units {
		wg.Add(1)
		go func() {
			defer wg.Done()
			waitDependentsStopped(ctx, u)
			u.cancel()
		}()
	}
	wg.Wait()
	return s.awaitStopped(ctx)
}

// waitDependentsStopped returns once every dependent of u has stopped, or ctx ended.
func waitDependentsStopped(ctx context.Context, u *unit) {
	for _, d := range u.dependents {
		select {
		case <-d.finished:
		case <-ctx.Done():
			return
		}
	}
}

func (s *Supervisor) awaitStopped(ctx context.Context) error {
	var running []string
	for _, u := range s.units {
		select {
		case <-u.finished:
		case <-ctx.Done():
			running = append(running, u.name)
		}
	}
	if len(running) > 0 {
		return fmt.Errorf("supervisor: services still stopping: %s: %w", strings.Join(running, ", "), ctx.Err())
	}
	return nil
}

// WaitHealthy blocks until the named services (all when none are named) are healthy
// together, or ctx ends; the error then lists the others with their last error.
func (s *Supervisor) WaitHealthy(ctx context.Context, names ...string) error {
	for {
		s.mu.Lock()
		changed := s.changed
		pending := s.unhealthy(names)
		s.mu.Unlock()
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("supervisor: services not healthy: %s: %w", strings.Join(pending, "; "), ctx.Err())
		}
	}
}

// unhealthy describes the named services that are not healthy; s.mu is held.
func (s *Supervisor) unhealthy(names []string) []string {
	var pending []string
	for _, u := range s.units {
		if len(names) > 0 && !slices.Contains(names, u.name) || u.state == StateHealthy {
			continue
		}
		desc := u.name + " " + u.state
		if u.lastErr != nil {
			desc += ": " + u.lastErr.Error()
		}
		pending = append(pending, desc)
	}
	return pending
}

// errRestartRequested ends a run because Restart asked for it; the service starts again at
// once, without backoff.
var errRestartRequested = errors.New("restart requested")

// ErrUnknownService is returned by Restart for a name the supervisor does not run.
var ErrUnknownService = errors.New("supervisor: unknown service")

// Restart stops the named service and starts it again, without backoff; it returns once
// the request is queued. Dependents keep running. A held service (Hold) is released.
func (s *Supervisor) Restart(name string) error {
	u, err := s.unit(name)
	if err != nil {
		return err
	}
	s.release(u)
	requestEnd(u)
	return nil
}

// Hold stops the named service and keeps it stopped (state stopped, with the field
// reason=why) until Release or Restart; it returns once the request is queued.
// Dependents keep running. Before Start it only marks the service: it will not start.
// Holding a held service again changes the reason it shows.
func (s *Supervisor) Hold(name, why string) error {
	if why == "" {
		why = "requested"
	}
	u, err := s.unit(name)
	if err != nil {
		return err
	}
	s.mu.Lock()
	wasHeld, started := u.hold != "", s.started
	u.hold = why
	if wasHeld {
		close(s.changed) // the unit waiting in waitReleased shows the new reason
		s.changed = make(chan struct{})
	}
	s.mu.Unlock()
	if started && !wasHeld {
		requestEnd(u)
	}
	return nil
}

// Release lets a held service start again; a service that is not held is left alone.
func (s *Supervisor) Release(name string) error {
	u, err := s.unit(name)
	if err != nil {
		return err
	}
	s.release(u)
	return nil
}

func (s *Supervisor) release(u *unit) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.hold != "" {
		u.hold = ""
		close(s.changed)
		s.changed = make(chan struct{})
	}
}

// requestEnd asks the current run (or backoff) of u to end.
func requestEnd(u *unit) {
	select {
	case u.restart <- struct{}{}:
	default: // a request is already pending
	}
}

func (s *Supervisor) unit(name string) (*unit, error) {
	for _, u := range s.units {
		if u.name == name {
			return u, nil
		}
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownService, name)
}

// Snapshot returns every service's status, dependencies first.
func (s *Supervisor) Snapshot() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Status, 0, len(s.units))
	for _, u := range s.units {
		st := Status{Name: u.name, State: u.state, Restarts: u.restarts, Since: u.since}
		if u.lastErr != nil {
			st.LastError = u.lastErr.Error()
		}
		if p, ok := u.svc.(pider); ok {
			st.Pid = p.Pid()
		}
		if c, ok := u.svc.(cgrouper); ok {
			st.Cgroup = c.Cgroup()
		}
		out = append(out, st)
	}
	return out
}

// setState records a transition and emits its event. The emit lock is taken before the
// state lock is released, so events leave in the order the states changed.
func (s *Supervisor) setState(u *unit, state string, err error, fields map[string]string) {
	now := time.Now()
	s.mu.Lock()
	u.state, u.since = state, now
	if err != nil {
		u.lastErr = err
	}
	if state == StateRestarting {
		u.restarts++
	}
	close(s.changed)
	s.changed = make(chan struct{})
	s.emitMu.Lock()
	s.mu.Unlock()
	defer s.emitMu.Unlock()

	s.logTransition(u, state, err, fields)
	if s.cfg.Emit == nil {
		return
	}
	ev := events.Event{Time: now, Type: events.TypeService, Name: u.name, State: state, Fields: fields}
	if err != nil {
		ev.Error = err.Error()
	}
	s.cfg.Emit(ev)
}

func (s *Supervisor) logTransition(u *unit, state string, err error, fields map[string]string) {
	log := u.log.WithField("state", state)
	for k, v := range fields {
		log = log.WithField(k, v)
	}
	if err != nil {
		log.WithError(err).Warn("service " + state)
		return
	}
	log.Info("service " + state)
}
