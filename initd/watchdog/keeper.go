package watchdog

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/initd/events"
)

// BootDeadline bounds the boot up to StartServices: machined stops feeding the watchdog
// after it, and the hardware resets a boot that hangs.
const BootDeadline = 10 * time.Minute

// Keeper is the watchdog while machined holds it during the boot. A nil Keeper (a
// machine without a watchdog) does nothing.
type Keeper struct {
	log  logrus.FieldLogger
	emit func(events.Event)
	dev  *Device

	mu     sync.Mutex
	cancel context.CancelFunc // stops the feeding goroutine
	done   chan struct{}      // closed when it has stopped
}

// Arm arms the hardware watchdog as early as machined can and feeds it until the boot
// deadline; nil when the machine has none (StartServices reports that).
func Arm(log logrus.FieldLogger, emit func(events.Event)) *Keeper {
	if _, err := os.Stat(DefaultDevice); err != nil {
		return nil
	}
	dev, err := Open(DefaultDevice, DefaultTimeout)
	if err != nil {
		log.WithError(err).Warn("cannot arm the watchdog")
		return nil
	}
	k := &Keeper{log: log, emit: emit, dev: dev}
	emit(events.Event{Type: events.TypeInfo, Name: "watchdog", State: "armed",
		Fields: map[string]string{"timeout": DefaultTimeout.String(), "bootDeadline": BootDeadline.String()}})
	k.feedUntil(time.Now().Add(BootDeadline))
	return k
}

// feedUntil (re)starts feeding the watchdog until deadline (zero: until released).
func (k *Keeper) feedUntil(deadline time.Time) {
	if k == nil {
		return
	}
	k.stopFeeding()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	k.mu.Lock()
	k.cancel, k.done = cancel, done
	k.mu.Unlock()
	go func() {
		defer close(done)
		err := Feed(ctx, k.dev, DefaultTimeout/3, deadline)
		if errors.Is(err, ErrDeadline) {
			k.log.Errorf("boot not done after %s: no longer feeding the watchdog; it will reset the machine", BootDeadline)
			k.emit(events.Event{Type: events.TypeInfo, Name: "watchdog", State: "expiring", Error: err.Error()})
		}
	}()
}

func (k *Keeper) stopFeeding() {
	k.mu.Lock()
	cancel, done := k.cancel, k.done
	k.cancel = nil
	k.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// Hold feeds the watchdog without a deadline: maintenance mode waits for an operator,
// which is not a hung boot.
func (k *Keeper) Hold() { k.feedUntil(time.Time{}) }

// Restart gives the rest of the boot a fresh BootDeadline.
func (k *Keeper) Restart() { k.feedUntil(time.Now().Add(BootDeadline)) }

// Release stops machined's feeding; handOver keeps the timer running for watchdogd,
// otherwise the watchdog is disarmed (shutdown). The Keeper is done after it.
func (k *Keeper) Release(handOver bool) {
	if k == nil {
		return
	}
	k.stopFeeding()
	k.mu.Lock()
	dev := k.dev
	k.dev = nil // released once: a second Release (shutdown after the handover) does nothing
	k.mu.Unlock()
	if dev == nil {
		return
	}
	var err error
	if handOver {
		err = dev.Release()
	} else {
		err = dev.Disarm()
	}
	if err != nil {
		k.log.WithError(err).Warn("watchdog")
	}
}
