package lab

import (
	"context"
	"fmt"
)

// AddTap makes a tap device called name inside the lab, on its bridge and up, for one
// VM, and returns it with the VM's MAC address. The name must be a valid interface name
// (1-15 bytes), unique in the lab; the MAC depends on the name only. Two names whose MACs
// collide are refused.
func (l *Lab) AddTap(ctx context.Context, name string) (Tap, error) {
	if err := checkIfname(name); err != nil {
		return Tap{}, err
	}
	if name == bridgeName || name == "lo" {
		return Tap{}, fmt.Errorf("lab %s: tap name %q is taken by the lab itself", l.name, name)
	}
	tap := Tap{Netns: l.name, Name: name, MAC: macFor(name)}
	if err := l.reserveTap(tap); err != nil {
		return Tap{}, err
	}
	if err := l.createTap(ctx, name); err != nil {
		l.mu.Lock()
		delete(l.taps, name)
		l.mu.Unlock()
		return Tap{}, err
	}
	l.logf("lab %s: tap %s on %s, VM MAC %s", l.name, name, bridgeName, tap.MAC)
	return tap, nil
}

// reserveTap records tap, refusing a name or MAC already in use.
func (l *Lab) reserveTap(tap Tap) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("lab %s: closed", l.name)
	}
	for _, other := range l.taps {
		switch {
		case other.Name == tap.Name:
			return fmt.Errorf("lab %s: tap %s exists", l.name, tap.Name)
		case other.MAC == tap.MAC:
			return fmt.Errorf("lab %s: taps %s and %s would share MAC %s: rename one", l.name, other.Name, tap.Name, tap.MAC)
		}
	}
	l.taps[tap.Name] = tap
	return nil
}

// createTap makes a persistent tap (it outlives no namespace: deleting the lab deletes
// it) and puts it on the bridge. QEMU opens it by name later, from inside the namespace.
func (l *Lab) createTap(ctx context.Context, name string) error {
	if err := l.ipIn(ctx, "tuntap", "add", "dev", name, "mode", "tap"); err != nil {
		return err
	}
	if err := l.ipIn(ctx, "link", "set", name, "master", bridgeName, "up"); err != nil {
		return fmt.Errorf("%w%s", err, l.deleteLink(ctx, name))
	}
	return nil
}

// deleteLink removes a half-made tap; the result is a note for the caller's error.
func (l *Lab) deleteLink(ctx context.Context, name string) string {
	if err := l.ipIn(ctx, "link", "delete", name); err != nil {
		return fmt.Sprintf(" (and removing it: %v)", err)
	}
	return ""
}
