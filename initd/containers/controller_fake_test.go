package containers

import (
	"context"
	"errors"
	"io"
	"maps"
	"slices"
	"sync"
	"time"
)

// fakeRuntime is containerd in memory: images to resolve, and tasks that exit when a
// test says so.
type fakeRuntime struct {
	mu         sync.Mutex
	images     map[string]Image
	tasks      map[string]*fakeTask // containers containerd holds, by ID
	starts     map[string]int
	specs      map[string]Spec // the last spec started per ID
	imageCalls map[string]int
	startErr   map[string]error
	removed    []string
	listed     int // Containers calls
	pid        uint32
	pullCalls  map[string]int
	pullable   map[string]bool // Pull makes these appear
	pullErr    error           // what Pull fails with otherwise
	pullBlock  chan struct{}   // when set, Pull waits for it (or its context)
}

type fakeTask struct {
	pid    uint32
	exit   chan Exit
	broken chan error // Wait returns what it receives: containerd lost the task
}

func (t *fakeTask) PID() uint32 { return t.pid }

func (t *fakeTask) Wait(ctx context.Context) (Exit, error) {
	select {
	case e := <-t.exit:
		return e, nil
	case err := <-t.broken:
		return Exit{}, err
	case <-ctx.Done():
		return Exit{}, ctx.Err()
	}
}

func newFakeRuntime(images ...string) *fakeRuntime {
	f := &fakeRuntime{images: map[string]Image{}, tasks: map[string]*fakeTask{}, starts: map[string]int{},
		specs: map[string]Spec{}, imageCalls: map[string]int{}, startErr: map[string]error{}, pid: 100,
		pullCalls: map[string]int{}, pullable: map[string]bool{}}
	for _, ref := range images {
		f.addImage(ref)
	}
	return f
}

func (f *fakeRuntime) addImage(ref string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.images[ref] = Image{Name: ref, Digest: "sha256:" + ref, Platform: "linux/amd64"}
}

// holdLeftover makes containerd hold a container of an earlier boot.
func (f *fakeRuntime) holdLeftover(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tasks[id] = &fakeTask{exit: make(chan Exit, 1)}
}

func (f *fakeRuntime) setStartErr(id string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.startErr[id] = err
}

// breakWait makes the wait for id's running task fail with err.
func (f *fakeRuntime) breakWait(id string, err error) {
	f.mu.Lock()
	task := f.tasks[id]
	f.mu.Unlock()
	task.broken <- err
}

// exit makes the running task of id exit with code.
func (f *fakeRuntime) exit(id string, code uint32) {
	f.mu.Lock()
	task := f.tasks[id]
	f.mu.Unlock()
	task.exit <- Exit{Code: code, At: time.Now()}
}

func (f *fakeRuntime) count(m func(*fakeRuntime) int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return m(f)
}

func (f *fakeRuntime) removedIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.removed)
}

func (f *fakeRuntime) spec(id string) Spec {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.specs[id]
}

func (f *fakeRuntime) Version(context.Context) (string, error) { return "fake", nil }

func (f *fakeRuntime) Import(context.Context, io.Reader, int64) ([]Image, error) {
	return nil, errors.New("the fake imports nothing")
}

func (f *fakeRuntime) Images(context.Context) ([]Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Collect(maps.Values(f.images)), nil
}

func (f *fakeRuntime) Image(_ context.Context, ref string) (Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.imageCalls[ref]++
	img, ok := f.images[ref]
	if !ok {
		return Image{}, ErrImageNotFound
	}
	return img, nil
}

func (f *fakeRuntime) Start(_ context.Context, spec Spec, _ io.Writer) (Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.startErr[spec.ID]; err != nil {
		return nil, err
	}
	if _, ok := f.images[spec.Image]; !ok {
		return nil, ErrImageNotFound
	}
	f.pid++
	task := &fakeTask{pid: f.pid, exit: make(chan Exit, 1), broken: make(chan error, 1)}
	f.tasks[spec.ID] = task // Start replaces a leftover of the same ID
	f.starts[spec.ID]++
	f.specs[spec.ID] = spec
	return task, nil
}

func (f *fakeRuntime) Remove(_ context.Context, id string, _ time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = append(f.removed, id)
	delete(f.tasks, id)
	return nil
}

func (f *fakeRuntime) Containers(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listed++
	return slices.Sorted(maps.Keys(f.tasks)), nil
}

// Pull makes the image appear when the test queued it with pullable, else fails with
// pullErr (or a no-registry error).
func (f *fakeRuntime) Pull(ctx context.Context, ref string) (Image, error) {
	f.mu.Lock()
	f.pullCalls[ref]++
	block, ok, err := f.pullBlock, f.pullable[ref], f.pullErr
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return Image{}, ctx.Err()
		}
	}
	if !ok {
		if err == nil {
			err = errors.New("registry docker.io: no network")
		}
		return Image{}, err
	}
	f.addImage(ref)
	return f.Image(ctx, ref)
}
