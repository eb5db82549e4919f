package resources

import (
	"sync"
	"time"
)

// testSpec is a spec with a slice and a map, so that a shallow copy would be caught.
type testSpec struct {
	Name  string            `json:"name"`
	Addrs []string          `json:"addrs"`
	Tags  map[string]string `json:"tags,omitempty"`
}

// clock is a fake time that advances one second per reading.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Second)
	return c.now
}

func newTestStore() (*Store, *clock) {
	c := newClock()
	return New(Config{Now: c.Now}), c
}

func link(id, owner string, addrs ...string) Resource {
	return Resource{
		Metadata: Metadata{Namespace: NamespaceNetwork, Type: TypeLinkStatus, ID: id, Owner: owner},
		Spec:     testSpec{Name: id, Addrs: addrs},
	}
}
