package power

import (
	"context"
	"os"
	"time"

	"github.com/sirupsen/logrus"
)

// WatchButtons calls pressed for every press of any power button until ctx ends. The
// ACPI button driver may bind after machined starts, so it looks again for a while.
func WatchButtons(ctx context.Context, log logrus.FieldLogger, pressed func()) {
	for attempt := 0; attempt < 20; attempt++ {
		if buttons := FindButtons("/sys/class/input", "/dev/input"); len(buttons) > 0 {
			for _, dev := range buttons {
				go watchButton(ctx, log, dev, pressed)
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
	log.Warn("no ACPI power button found; shut down with SIGTERM")
}

func watchButton(ctx context.Context, log logrus.FieldLogger, dev string, pressed func()) {
	f, err := os.Open(dev)
	if err != nil {
		log.WithError(err).WithField("device", dev).Warn("power button")
		return
	}
	defer f.Close()
	log.WithField("device", dev).Info("watching the power button")
	presses := make(chan struct{})
	go func() {
		err := Watch(ctx, f, presses)
		log.WithError(err).WithField("device", dev).Debug("power button watch ended")
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-presses:
			pressed()
		}
	}
}
