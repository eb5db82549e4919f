package supervisor

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
)

// unit is the supervision state of one service.
type unit struct {
	name       string
	svc        Service
	log        logrus.FieldLogger
	deps       []*unit
	dependents []*unit
	backoff    backoff
	cancel     context.CancelFunc // ends supervision; set by Start
	finished   chan struct{}      // closed when supervision has ended and the service is stopped
	restart    chan struct{}      // a pending Restart request (buffered, one slot)

	// Guarded by Supervisor.mu.
	hold     string // why Hold asked for the service to stay stopped until Release; "" when it did not
	state    string
	restarts int
	lastErr  error
	since    time.Time
}

func (s *Supervisor) newUnit(svc Service) *unit {
	return &unit{
		name:     svc.Name(),
		svc:      svc,
		log:      s.cfg.Log.WithField("service", svc.Name()),
		backoff:  backoff{base: s.cfg.BackoffBase, max: s.cfg.BackoffMax, reset: s.cfg.BackoffReset},
		finished: make(chan struct{}),
		restart:  make(chan struct{}, 1),
		state:    StateStopped,
	}
}

// supervise runs the service until ctx ends: wait for dependencies, run, back off, again.
func (s *Supervisor) supervise(ctx context.Context, u *unit) {
	defer close(u.finished)
	for {
		if !s.waitReleased(ctx, u) || !s.waitDependencies(ctx, u) {
			s.setState(u, StateStopped, nil, nil)
			return
		}
		healthyFor, err := s.runOnce(ctx, u)
		if ctx.Err() != nil {
			s.setState(u, StateStopped, err, nil)
			return
		}
		if errors.Is(err, errRestartRequested) {
			if !s.isHeld(u) {
				s.setState(u, StateRestarting, nil, map[string]string{"reason": "requested"})
			}
			continue
		}
		delay := u.backoff.next(healthyFor)
		s.setState(u, StateFailed, err, nil)
		s.setState(u, StateRestarting, nil, map[string]string{"delay": delay.String()})
		if !sleepOrRequest(ctx, u, delay) {
			s.setState(u, StateStopped, nil, nil)
			return
		}
	}
}

// waitReleased blocks while the service is held (Hold), in state stopped; false when ctx
// ended first.
func (s *Supervisor) waitReleased(ctx context.Context, u *unit) bool {
	announced := ""
	for {
		s.mu.Lock()
		hold, changed := u.hold, s.changed
		s.mu.Unlock()
		if hold == "" {
			return true
		}
		if hold != announced {
			s.setState(u, StateStopped, nil, map[string]string{"reason": hold})
			announced = hold
			continue // setState replaced s.changed
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		}
	}
}

func (s *Supervisor) isHeld(u *unit) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return u.hold != ""
}

// waitDependencies blocks until every dependency is healthy; false when ctx ended first.
func (s *Supervisor) waitDependencies(ctx context.Context, u *unit) bool {
	announced := false
	for {
		s.mu.Lock()
		changed := s.changed
		pending := pendingDependencies(u)
		s.mu.Unlock()
		if len(pending) == 0 {
			return true
		}
		if !announced {
			s.setState(u, StateWaiting, nil, map[string]string{"for": strings.Join(pending, ",")})
			announced = true
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		}
	}
}

// pendingDependencies names the dependencies of u that are not healthy; s.mu is held.
func pendingDependencies(u *unit) []string {
	var pending []string
	for _, d := range u.deps {
		if d.state != StateHealthy {
			pending = append(pending, d.name)
		}
	}
	return pending
}

// runOnce starts the service, watches it until the run ends, and stops it. It returns
// why the run ended (when ctx ended: the Stop error) and how long it was healthy.
func (s *Supervisor) runOnce(ctx context.Context, u *unit) (time.Duration, error) {
	select {
	case <-u.restart: // the run this asked to end is already over
	default:
	}
	s.setState(u, StateStarting, nil, nil)
	if err := protect(u.log, func() error { return u.svc.Start(ctx) }); err != nil {
		s.stopService(u) // a half-started service may have left something behind
		return 0, fmt.Errorf("start: %w", err)
	}
	s.setState(u, StateRunning, nil, pidFields(u.svc))
	healthyFor, err := s.watch(ctx, u)
	if ctx.Err() != nil {
		s.setState(u, StateStopping, nil, nil)
	}
	if stopErr := s.stopService(u); ctx.Err() != nil {
		return healthyFor, stopErr
	}
	return healthyFor, err
}

// startProbeInterval is how often health is checked until the first success: the boot
// waits for services to become healthy, so finding out late costs boot time.
const startProbeInterval = 200 * time.Millisecond

// watch checks health (every startProbeInterval until the first success, then every
// HealthInterval) until the process exits, the checks give up or ctx ends (then the
// error is nil).
func (s *Supervisor) watch(ctx context.Context, u *unit) (time.Duration, error) {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	exitc := watchExit(runCtx, u.svc)
	startTimeout := s.cfg.StartTimeout
	if own, ok := u.svc.(interface{ StartTimeout() time.Duration }); ok && own.StartTimeout() > 0 {
		startTimeout = own.StartTimeout()
	}
	threshold := s.cfg.FailureThreshold
	if own, ok := u.svc.(interface{ FailureThreshold() int }); ok && own.FailureThreshold() > 0 {
		threshold = own.FailureThreshold()
	}
	health := healthTracker{started: time.Now(), startTimeout: startTimeout, threshold: threshold}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		if err := s.checkHealth(runCtx, u, &health); err != nil {
			return health.healthyFor(time.Now()), err
		}
		timer.Reset(s.nextCheck(&health))
		select {
		case <-ctx.Done():
			return health.healthyFor(time.Now()), nil
		case err := <-exitc:
			return health.healthyFor(time.Now()), exitError(err)
		case <-u.restart:
			return health.healthyFor(time.Now()), errRestartRequested
		case <-timer.C:
		}
	}
}

func (s *Supervisor) nextCheck(health *healthTracker) time.Duration {
	if !health.everHealthy && startProbeInterval < s.cfg.HealthInterval {
		return startProbeInterval
	}
	return s.cfg.HealthInterval
}

// checkHealth runs one bounded check and reports transitions; an error ends the run.
func (s *Supervisor) checkHealth(ctx context.Context, u *unit, health *healthTracker) error {
	checkCtx, cancel := context.WithTimeout(ctx, s.cfg.HealthTimeout)
	err := protect(u.log, func() error { return u.svc.Health(checkCtx) })
	cancel()
	if ctx.Err() != nil {
		return nil // shutting down: a check cut short says nothing about the service
	}
	if errors.Is(err, ErrExited) {
		return err // the process is gone: no use waiting for more checks
	}
	verdict, err := health.observe(time.Now(), err)
	switch verdict {
	case nowHealthy:
		s.setState(u, StateHealthy, nil, pidFields(u.svc))
	case nowUnhealthy:
		s.setState(u, StateRunning, err, nil)
	case giveUp:
		return err
	}
	return nil
}

// watchExit delivers the exit of a process-backed service; nil (never ready) otherwise.
func watchExit(ctx context.Context, svc Service) <-chan error {
	w, ok := svc.(waiter)
	if !ok {
		return nil
	}
	exitc := make(chan error, 1)
	go func() {
		if err := w.Wait(ctx); ctx.Err() == nil {
			exitc <- err
		}
	}()
	return exitc
}

func (s *Supervisor) stopService(u *unit) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.StopTimeout)
	defer cancel()
	err := protect(u.log, func() error { return u.svc.Stop(ctx) })
	if err != nil {
		u.log.WithError(err).Warn("stop")
	}
	return err
}

func pidFields(svc Service) map[string]string {
	p, ok := svc.(pider)
	if !ok || p.Pid() == 0 {
		return nil
	}
	return map[string]string{"pid": strconv.Itoa(p.Pid())}
}

// protect turns a panic in service code into an error: PID 1 must survive its services.
func protect(log logrus.FieldLogger, call func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			log.WithField("stack", string(debug.Stack())).Error("service code panicked")
			err = fmt.Errorf("panic: %v", v)
		}
	}()
	return call()
}

// sleep waits d; false when ctx ended first.
// sleepOrRequest is sleep that a Restart or Hold cuts short: the backoff delay is for
// crashes, not for an operator who asked.
func sleepOrRequest(ctx context.Context, u *unit, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-u.restart:
		return true
	case <-ctx.Done():
		return false
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
