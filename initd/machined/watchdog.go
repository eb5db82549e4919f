package machined

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/watchdog"
)

// BootDeadline bounds the boot up to StartServices: machined stops feeding the watchdog
// after it, and the hardware resets a boot that hangs.
const BootDeadline = 10 * time.Minute

// bootWatchdog is the watchdog while machined holds it during the boot.
type bootWatchdog struct {
	dev    *watchdog.Device
	cancel context.CancelFunc
	done   chan struct{}
}

// armWatchdog arms the hardware watchdog as early as machined can and feeds it until the
// boot deadline or until it is handed over to watchdogd.
func (m *Machined) armWatchdog() {
	if _, err := os.Stat(watchdog.DefaultDevice); err != nil {
		return // services() reports the missing watchdog
	}
	dev, err := watchdog.Open(watchdog.DefaultDevice, watchdog.DefaultTimeout)
	if err != nil {
		m.Log.WithError(err).Warn("cannot arm the watchdog")
		return
	}
	m.wd = &bootWatchdog{dev: dev}
	m.emit(events.Event{Type: events.TypeInfo, Name: "watchdog", State: "armed",
		Fields: map[string]string{"timeout": watchdog.DefaultTimeout.String(), "bootDeadline": BootDeadline.String()}})
	m.feedUntil(time.Now().Add(BootDeadline))
}

// feedUntil (re)starts feeding the watchdog until deadline (zero: until released).
func (m *Machined) feedUntil(deadline time.Time) {
	if m.wd == nil {
		return
	}
	m.stopFeeding()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	m.wd.cancel, m.wd.done = cancel, done
	go func() {
		defer close(done)
		err := watchdog.Feed(ctx, m.wd.dev, watchdog.DefaultTimeout/3, deadline)
		if errors.Is(err, watchdog.ErrDeadline) {
			m.Log.Errorf("boot not done after %s: no longer feeding the watchdog; it will reset the machine", BootDeadline)
			m.emit(events.Event{Type: events.TypeInfo, Name: "watchdog", State: "expiring", Error: err.Error()})
		}
	}()
}

func (m *Machined) stopFeeding() {
	if m.wd != nil && m.wd.cancel != nil {
		m.wd.cancel()
		<-m.wd.done
		m.wd.cancel = nil
	}
}

// holdWatchdog feeds the watchdog without a deadline: maintenance mode waits for an
// operator, which is not a hung boot.
func (m *Machined) holdWatchdog() { m.feedUntil(time.Time{}) }

// restartBootWatchdog gives the rest of the boot a fresh BootDeadline.
func (m *Machined) restartBootWatchdog() { m.feedUntil(time.Now().Add(BootDeadline)) }

// releaseWatchdog stops machined's feeding; handOver keeps the timer running for watchdogd,
// otherwise the watchdog is disarmed (shutdown).
func (m *Machined) releaseWatchdog(handOver bool) {
	if m.wd == nil {
		return
	}
	m.stopFeeding()
	var err error
	if handOver {
		err = m.wd.dev.Release()
	} else {
		err = m.wd.dev.Disarm()
	}
	if err != nil {
		m.Log.WithError(err).Warn("watchdog")
	}
	m.wd = nil
}
