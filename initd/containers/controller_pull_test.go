package containers

import (
	"errors"
	"testing"
	"time"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/resources"
)

func pulls(ref string) func(*fakeRuntime) int {
	return func(f *fakeRuntime) int { return f.pullCalls[ref] }
}

// A missing image is pulled once and runs, never shown waiting.
func TestMissingImageIsPulled(t *testing.T) {
	rt := newFakeRuntime()
	rt.pullable["web:1"] = true
	h := newHarness(t, rt, nil)
	h.containerd(true)
	h.apply(web("web:1"))
	st := h.waitState("web", resources.ContainerRunning, 0)
	if st.Digest != "sha256:web:1" || st.LastError != "" {
		t.Errorf("status %+v", st)
	}
	if n := rt.count(pulls("web:1")); n != 1 {
		t.Errorf("%d pulls, want 1", n)
	}
	if n := h.eventCount("web", resources.ContainerWaitingForImage); n != 0 {
		t.Errorf("%d waiting events, want none", n)
	}
}

// A failed pull shows waiting for image with the pull's error, and is retried at the
// recheck interval (never faster) until it succeeds.
func TestPullFailureWaitsAndRetries(t *testing.T) {
	rt := newFakeRuntime()
	rt.pullErr = errors.New("registry docker.io: repository library/web: manifest 1: not found (HTTP 404 Not Found)")
	h := newHarness(t, rt, func(c *Controller) { c.ImageRecheck = 20 * time.Millisecond })
	h.containerd(true)
	began := time.Now()
	h.apply(web("web:1"))
	st := h.waitState("web", resources.ContainerWaitingForImage, 0)
	if st.LastError != rt.pullErr.Error() {
		t.Errorf("status %+v: want the pull's error", st)
	}
	eventually(t, "three pulls", func() bool { return rt.count(pulls("web:1")) >= 3 }, func() string { return "" })
	if d := time.Since(began); d < 40*time.Millisecond {
		t.Errorf("three pulls within %v: faster than the 20ms recheck", d)
	}
	h.mu.Lock()
	for _, e := range h.events {
		if e.State == resources.ContainerWaitingForImage && (e.Error != rt.pullErr.Error() || e.Fields["reason"] != rt.pullErr.Error() || e.Fields["retryIn"] == "") {
			t.Errorf("waiting event %+v: want the pull's error as the reason and a retry delay", e)
		}
	}
	h.mu.Unlock()

	rt.mu.Lock()
	rt.pullable["web:1"] = true
	rt.mu.Unlock()
	h.waitState("web", resources.ContainerRunning, 0)
}

// With a long recheck, a failed pull is not tried again when other images arrive: an
// import wakes the container to look, not to pull.
func TestPullNotRetriedOnImagesChanged(t *testing.T) {
	rt := newFakeRuntime()
	h := newHarness(t, rt, nil) // ImageRecheck: an hour
	h.containerd(true)
	h.apply(web("web:1"))
	h.waitState("web", resources.ContainerWaitingForImage, 0)
	for range 3 {
		looked := rt.count(func(f *fakeRuntime) int { return f.imageCalls["web:1"] })
		h.ctl.ImagesChanged()
		eventually(t, "another look", func() bool { return rt.count(func(f *fakeRuntime) int { return f.imageCalls["web:1"] }) > looked }, func() string { return "" })
	}
	if n := rt.count(pulls("web:1")); n != 1 {
		t.Errorf("%d pulls, want 1", n)
	}
}

// A pull that hangs (no network) stalls neither the other containers nor an import,
// which cuts it short.
func TestHangingPullStallsNothing(t *testing.T) {
	rt := newFakeRuntime("db:1")
	rt.pullBlock = make(chan struct{}) // never closed: every pull waits for its context
	h := newHarness(t, rt, nil)
	h.containerd(true)
	h.apply(web("web:1"), config.Container{Name: "db", Image: "db:1"})
	h.waitState("db", resources.ContainerRunning, 0)
	eventually(t, "web's pull", func() bool { return rt.count(pulls("web:1")) == 1 }, func() string { return "" })

	rt.addImage("web:1")
	h.ctl.ImagesChanged()
	st := h.waitState("web", resources.ContainerRunning, 0)
	if st.LastError != "" {
		t.Errorf("status %+v: a pull cut short by an import is not an error", st)
	}
}
