package network

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kiln-os/kiln/initd/network/sntp"
	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/internal/backoff"
)

// Time sync timing: the clock is stepped only when it is off by more than stepThreshold
// (small errors do not matter to TLS and the Kubernetes components; slewing them would
// need adjtimex and a discipline loop). After a sync it asks again every pollInterval;
// failures back off from retryBase up to pollInterval, never below the 15 s RFC 4330
// §10 sets as the shortest poll interval.
const (
	stepThreshold = time.Second
	pollInterval  = 17 * time.Minute
	retryBase     = 15 * time.Second
	queryTimeout  = 5 * time.Second
)

// clock is the Network seen by time sync: it records the time status in the Network's
// state and steps the clock through its options.
type clock struct{ *Network }

// syncTime keeps the clock in step with servers until ctx ends.
func (n clock) syncTime(ctx context.Context, servers []string) {
	defer n.background.Done()
	retry := backoff.Backoff{Base: retryBase, Max: pollInterval}
	for {
		status := n.syncOnce(ctx, servers)
		if ctx.Err() != nil {
			return
		}
		n.record(status)
		wait := pollInterval
		if !status.Synced {
			wait = retry.Next()
		} else {
			retry.Reset()
		}
		if !sleep(ctx, wait) {
			return
		}
	}
}

// syncOnce asks the servers in order and steps the clock from the first that answers.
func (n clock) syncOnce(ctx context.Context, servers []string) TimeStatus {
	var errs []error
	for _, server := range servers {
		qctx, cancel := context.WithTimeout(ctx, queryTimeout)
		res, err := sntp.Query(qctx, server, time.Now)
		cancel()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := n.step(res.Offset); err != nil {
			errs = append(errs, err)
			continue
		}
		n.opts.Log.WithField("server", server).WithField("offset", res.Offset).Info("time synced")
		return TimeStatus{Synced: true, Server: server, Offset: res.Offset}
	}
	err := errors.Join(errs...)
	n.opts.Log.WithError(err).Warn("time sync")
	return TimeStatus{Error: err.Error()}
}

// step sets the clock when it is off by more than stepThreshold.
func (n clock) step(offset time.Duration) error {
	if offset.Abs() <= stepThreshold {
		return nil
	}
	return n.opts.SetClock(time.Now().Add(offset))
}

func setRealtimeClock(t time.Time) error {
	ts := unix.NsecToTimespec(t.UnixNano())
	if err := unix.ClockSettime(unix.CLOCK_REALTIME, &ts); err != nil {
		return fmt.Errorf("clock_settime %v: %w", t, err)
	}
	return nil
}

// start starts time sync in the background unless the Spec disables it.
func (n clock) start(ctx context.Context) {
	n.mu.Lock()
	disabled, servers := n.spec.TimeDisabled, n.spec.TimeServers
	n.mu.Unlock()
	if disabled {
		n.record(TimeStatus{Disabled: true})
		return
	}
	if len(servers) == 0 {
		servers = []string{DefaultTimeServer}
	}
	ctx, stop := context.WithCancel(ctx)
	n.mu.Lock()
	n.stopTime = stop
	n.mu.Unlock()
	n.record(TimeStatus{})
	n.background.Add(1)
	go n.syncTime(ctx, servers)
}

// restart stops time sync and starts it again with the current spec.
func (n clock) restart() {
	n.mu.Lock()
	stop := n.stopTime
	n.mu.Unlock()
	if stop != nil {
		stop()
	}
	n.start(n.ctx)
}
