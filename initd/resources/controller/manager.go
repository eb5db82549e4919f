package controller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/initd/resources"
)

// Config tunes a Manager; zero fields take the defaults in brackets.
type Config struct {
	Log         logrus.FieldLogger
	BackoffBase time.Duration                        // first retry delay after an error [1s]
	BackoffMax  time.Duration                        // retry delay cap [30s]
	After       func(time.Duration) <-chan time.Time // the retry timer [time.After]
}

func (c Config) withDefaults() Config {
	if c.BackoffBase <= 0 {
		c.BackoffBase = time.Second
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 30 * time.Second
	}
	if c.After == nil {
		c.After = time.After
	}
	if c.Log == nil {
		discard := logrus.New()
		discard.Out = io.Discard
		c.Log = discard
	}
	return c
}

// Manager runs a set of controllers against one store.
type Manager struct {
	store *resources.Store
	cfg   Config

	mu          sync.Mutex
	controllers []Controller
	owners      map[string]string // output type → controller name
	running     bool
}

// NewManager returns a Manager with no controllers.
func NewManager(store *resources.Store, cfg Config) *Manager {
	return &Manager{store: store, cfg: cfg.withDefaults(), owners: map[string]string{}}
}

// Register adds c before Run. It fails if c's name is empty or taken, if it declares an
// incomplete input or output, or if another controller (or another writer of the store)
// already owns one of its output types.
func (m *Manager) Register(c Controller) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	name := c.Name()
	if m.running {
		return fmt.Errorf("controller %s: register before Run", name)
	}
	if err := m.checkLocked(c); err != nil {
		return fmt.Errorf("controller %q: %w", name, err)
	}
	for _, out := range c.Outputs() {
		if err := m.store.Claim(out.Type, name); err != nil {
			return fmt.Errorf("controller %s: %w", name, err)
		}
		m.owners[out.Type] = name
	}
	m.controllers = append(m.controllers, c)
	return nil
}

func (m *Manager) checkLocked(c Controller) error {
	if c.Name() == "" {
		return errors.New("a controller needs a name")
	}
	for _, other := range m.controllers {
		if other.Name() == c.Name() {
			return errors.New("name registered twice")
		}
	}
	for _, in := range c.Inputs() {
		if in.Namespace == "" || in.Type == "" {
			return fmt.Errorf("input %+v needs a namespace and a type", in)
		}
	}
	for _, out := range c.Outputs() {
		if out.Type == "" {
			return errors.New("an output needs a type")
		}
		if owner, ok := m.owners[out.Type]; ok {
			return fmt.Errorf("output type %s is already the output of %s; a type has one writer", out.Type, owner)
		}
	}
	return nil
}

// Run reconciles every registered controller until ctx ends, then waits for the
// controllers to return. It may be called once.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.running {
		m.mu.Unlock()
		return errors.New("controller manager: Run called twice")
	}
	m.running = true
	controllers := m.controllers
	m.mu.Unlock()

	var wg sync.WaitGroup
	for _, c := range controllers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.run(ctx, c)
		}()
	}
	wg.Wait()
	return nil
}

// Info is what a controller declares, for `kilnctl inspect controllers`.
type Info struct {
	Name    string
	Inputs  []Input
	Outputs []Output
}

// Controllers lists the registered controllers in registration order.
func (m *Manager) Controllers() []Info {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Info, 0, len(m.controllers))
	for _, c := range m.controllers {
		out = append(out, Info{Name: c.Name(), Inputs: c.Inputs(), Outputs: c.Outputs()})
	}
	return out
}
