package controller

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/initd/resources"

	"github.com/kiln-os/kiln/internal/backoff"
)

// run is one controller's loop: watch the inputs, reconcile, wait for a change or for
// the backoff after an error, reconcile again, until ctx ends.
func (m *Manager) run(ctx context.Context, c Controller) {
	log := m.cfg.Log.WithField("controller", c.Name())
	ctx, cancel := context.WithCancel(ctx)
	var followers sync.WaitGroup
	defer followers.Wait()
	defer cancel() // runs before Wait: it ends the followers' watches

	changed := make(chan struct{}, 1) // one pending token: changes coalesce
	for _, in := range c.Inputs() {
		// Watch registers before it returns, so no change after this line is missed
		// by the first reconcile below.
		events, err := m.store.Watch(ctx, in.Namespace, in.Type, "", resources.WatchOptions{})
		if err != nil {
			log.WithError(err).Error("watch input")
			return
		}
		followers.Add(1)
		go func() {
			defer followers.Done()
			m.follow(ctx, in, events, changed, log)
		}()
	}

	rt := NewRuntime(m.store, c)
	retry := backoff.Backoff{Base: m.cfg.BackoffBase, Max: m.cfg.BackoffMax}
	for {
		drain(changed) // this reconcile reads every change made so far
		err := reconcile(ctx, c, rt)
		if ctx.Err() != nil {
			return
		}
		wake := (<-chan struct{})(changed)
		var timer <-chan time.Time
		if err != nil {
			delay := retry.Next()
			log.WithError(err).WithField("retry_in", delay).Error("reconcile")
			wake, timer = nil, m.cfg.After(delay)
		} else {
			retry.Reset()
		}
		select {
		case <-wake:
		case <-timer:
		case <-ctx.Done():
			return
		}
	}
}

// reconcile runs c once; a panic comes back as an error.
func reconcile(ctx context.Context, c Controller, rt *Runtime) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return c.Reconcile(ctx, rt)
}

// follow turns one input's watch into tokens on changed, re-watching after an overflow.
func (m *Manager) follow(ctx context.Context, in Input, events <-chan resources.Event, changed chan<- struct{}, log logrus.FieldLogger) {
	for {
		bootstrapped := false
		for ev := range events {
			switch ev.Type {
			case resources.EventBootstrapped:
				bootstrapped = true
			case resources.EventErrored:
				log.WithError(ev.Err).WithField("input", in.Namespace+"/"+in.Type).Warn("input watch ended; watching again")
			default:
				if bootstrapped {
					notify(changed)
				}
			}
		}
		if ctx.Err() != nil {
			return
		}
		var err error
		if events, err = m.store.Watch(ctx, in.Namespace, in.Type, "", resources.WatchOptions{}); err != nil {
			log.WithError(err).Error("watch input")
			return
		}
		notify(changed) // changes were lost with the old watch: read everything again
	}
}

func notify(changed chan<- struct{}) {
	select {
	case changed <- struct{}{}:
	default:
	}
}

func drain(changed <-chan struct{}) {
	select {
	case <-changed:
	default:
	}
}
