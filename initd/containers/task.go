package containers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"time"

	containersapi "github.com/containerd/containerd/api/services/containers/v1"
	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
)

// Names containerd knows a container's parts by.
const (
	// runcShim is the runtime containerd starts each task with (its runc v2 shim).
	runcShim = "io.containerd.runc.v2"
	// specTypeURL is the type URL containerd registers the OCI runtime spec under, its
	// value being the spec's JSON.
	specTypeURL = "types.containerd.io/opencontainers/runtime-spec/1/Spec"
)

// Start removes any leftover container spec.ID, then creates and starts it on its image:
// a fresh writable snapshot on the image's top layer, the runtime spec (runtimeSpec),
// and stdout and stderr through FIFOs under the run directory, copied line by line to
// out until the task exits or is removed.
func (c *Client) Start(ctx context.Context, spec Spec, out io.Writer) (Task, error) {
	if err := validID(spec.ID); err != nil {
		return nil, err
	}
	if out == nil {
		out = io.Discard
	}
	if err := c.Remove(ctx, spec.ID, 0); err != nil {
		return nil, fmt.Errorf("container %s: remove leftover: %w", spec.ID, err)
	}
	img, err := c.imageRecord(ctx, spec.Image)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", spec.ID, err)
	}
	cfg, chain, err := c.imageConfig(ctx, img)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", spec.ID, err)
	}
	if !isNumericUser(cfg.Config.User) {
		if cfg.Config.User, err = c.resolveUser(ctx, img, cfg.Config.User); err != nil {
			return nil, fmt.Errorf("container %s: %w", spec.ID, err)
		}
	}
	dir := filepath.Join(c.runDir, spec.ID)
	files := specFiles{Hosts: filepath.Join(dir, "hosts"), ResolvConf: filepath.Join(dir, "resolv.conf")}
	rs, err := runtimeSpec(spec, cfg.Config, files)
	if err != nil {
		return nil, err
	}
	// A lease holds the new snapshot until the container record references it
	// (containerd docs/garbage-collection.md).
	lctx, done, err := c.withLease(ctx, "kiln-start-", false)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", spec.ID, err)
	}
	defer done()
	t, err := c.create(lctx, spec, rs, chain, files, out)
	if err != nil {
		c.Remove(context.WithoutCancel(ctx), spec.ID, 0) //nolint:errcheck // the error that matters is err
		return nil, fmt.Errorf("container %s: %w", spec.ID, err)
	}
	return t, nil
}

// idPattern is the config's container name (config.Container.Name): a DNS label, so
// it is a valid containerd identifier, path element, cgroup name and hostname (at most
// 63 bytes, the kernel's limit for a hostname).
var idPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// validID keeps an ID usable as a path element, a hostname and a containerd identifier.
func validID(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("container ID %q: a DNS label (lower-case letters, digits and dashes, at most 63)", id)
	}
	return nil
}

// makeFiles makes the container's directory with its hosts file and a copy of the node's
// resolv.conf (copied, not bound: machined replaces the file atomically, so a bind mount
// would keep the old inode; a container sees the resolvers of its start).
func (c *Client) makeFiles(files specFiles, id string) error {
	if err := os.MkdirAll(c.runDir, 0o700); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Dir(files.Hosts), 0o700); err != nil {
		return err
	}
	hosts := fmt.Sprintf("127.0.0.1\tlocalhost %s\n::1\tlocalhost ip6-localhost ip6-loopback\n", id)
	if err := os.WriteFile(files.Hosts, []byte(hosts), 0o644); err != nil {
		return err
	}
	resolv, err := os.ReadFile(c.resolvConf)
	if err != nil && !errors.Is(err, os.ErrNotExist) { // no resolvers yet: an empty file
		return err
	}
	return os.WriteFile(files.ResolvConf, resolv, 0o644)
}

// create makes the container's files, snapshot, container record and task, and starts it.
func (c *Client) create(ctx context.Context, spec Spec, rs *specs.Spec, chain []digest.Digest, files specFiles, out io.Writer) (*task, error) {
	if err := c.makeFiles(files, spec.ID); err != nil {
		return nil, err
	}
	parent := ""
	if len(chain) > 0 {
		parent = chain[len(chain)-1].String()
	}
	prep, err := c.snapshots.Prepare(c.ns(ctx), &snapshotsapi.PrepareSnapshotRequest{Snapshotter: Snapshotter, Key: spec.ID, Parent: parent})
	if err != nil {
		return nil, fmt.Errorf("snapshot prepare: %w", err)
	}
	specJSON, err := json.Marshal(rs)
	if err != nil {
		return nil, err
	}
	_, err = c.containers.Create(c.ns(ctx), &containersapi.CreateContainerRequest{Container: &containersapi.Container{
		ID:          spec.ID,
		Image:       spec.Image,
		Runtime:     &containersapi.Container_Runtime{Name: runcShim},
		Spec:        &anypb.Any{TypeUrl: specTypeURL, Value: specJSON},
		Snapshotter: Snapshotter,
		SnapshotKey: spec.ID,
	}})
	if err != nil {
		return nil, fmt.Errorf("container create: %w", err)
	}
	r, err := openOutput(filepath.Dir(files.Hosts), out)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.running[spec.ID] = r
	c.mu.Unlock()
	_, err = c.tasks.Create(c.ns(ctx), &tasksapi.CreateTaskRequest{
		ContainerID: spec.ID, Rootfs: prep.GetMounts(),
		Stdout: r.stdoutPath, Stderr: r.stderrPath,
	})
	if err != nil {
		return nil, fmt.Errorf("task create: %w", err)
	}
	started, err := c.tasks.Start(c.ns(ctx), &tasksapi.StartRequest{ContainerID: spec.ID})
	if err != nil {
		return nil, fmt.Errorf("task start: %w", err)
	}
	t := &task{id: spec.ID, pid: started.GetPid(), done: make(chan struct{})}
	c.mu.Lock()
	r.task = t
	c.mu.Unlock()
	go c.wait(t, r)
	return t, nil
}

// task is a started container's process; one goroutine waits for it (tasks Wait), and
// Remove reports the exit too (from tasks Delete), whichever comes first.
type task struct {
	id   string
	pid  uint32
	once sync.Once
	done chan struct{}
	exit Exit
	err  error
}

// PID is the task's process ID on the node.
func (t *task) PID() uint32 { return t.pid }

// Wait returns the task's exit, or ctx's error.
func (t *task) Wait(ctx context.Context) (Exit, error) {
	select {
	case <-t.done:
		return t.exit, t.err
	case <-ctx.Done():
		return Exit{}, ctx.Err()
	}
}

// finish records how the task ended; the first report counts.
func (t *task) finish(exit Exit, err error) {
	t.once.Do(func() {
		t.exit, t.err = exit, err
		close(t.done)
	})
}

// wait blocks on containerd's tasks Wait until the task exits or its output is stopped
// (Remove, Close), then ends the output copy.
func (c *Client) wait(t *task, r *running) {
	resp, err := c.tasks.Wait(c.ns(r.ctx), &tasksapi.WaitRequest{ContainerID: t.id})
	if err != nil {
		t.finish(Exit{}, fmt.Errorf("container %s: wait: %w", t.id, err))
	} else {
		t.finish(Exit{Code: resp.GetExitStatus(), At: resp.GetExitedAt().AsTime()}, nil)
	}
	r.drain()
}

// Remove stops and deletes container id: SIGTERM to all its processes, SIGKILL after
// grace, then its task, container record, snapshot and run directory. Each step finding
// nothing is fine, so Remove of an absent container is nil.
func (c *Client) Remove(ctx context.Context, id string, grace time.Duration) error {
	if err := validID(id); err != nil {
		return err
	}
	if err := c.stopTask(ctx, id, grace); err != nil {
		return fmt.Errorf("container %s: %w", id, err)
	}
	deleted, err := c.tasks.Delete(c.ns(ctx), &tasksapi.DeleteTaskRequest{ContainerID: id})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("container %s: task delete: %w", id, err)
	}
	c.mu.Lock()
	r := c.running[id]
	delete(c.running, id)
	var t *task
	if r != nil {
		t = r.task
	}
	c.mu.Unlock()
	if t != nil && deleted != nil {
		// The exit as tasks Delete reports it, before the waiter's RPC is cancelled.
		t.finish(Exit{Code: deleted.GetExitStatus(), At: deleted.GetExitedAt().AsTime()}, nil)
	}
	if r != nil {
		r.stop()
	}
	if _, err := c.containers.Delete(c.ns(ctx), &containersapi.DeleteContainerRequest{ID: id}); err != nil && !isNotFound(err) {
		return fmt.Errorf("container %s: delete: %w", id, err)
	}
	_, err = c.snapshots.Remove(c.ns(ctx), &snapshotsapi.RemoveSnapshotRequest{Snapshotter: Snapshotter, Key: id})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("container %s: snapshot remove: %w", id, err)
	}
	if err := os.RemoveAll(filepath.Join(c.runDir, id)); err != nil {
		return fmt.Errorf("container %s: %w", id, err)
	}
	return nil
}

// stopTask signals the task's processes and waits for its exit: SIGTERM, then SIGKILL
// when grace ends (at once for a zero grace).
func (c *Client) stopTask(ctx context.Context, id string, grace time.Duration) error {
	if grace > 0 {
		done, err := c.signal(ctx, id, syscall.SIGTERM)
		if err != nil || done {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, grace)
		_, err = c.tasks.Wait(c.ns(wctx), &tasksapi.WaitRequest{ContainerID: id})
		cancel()
		if err == nil || isNotFound(err) {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	done, err := c.signal(ctx, id, syscall.SIGKILL)
	if err != nil || done {
		return err
	}
	if _, err := c.tasks.Wait(c.ns(ctx), &tasksapi.WaitRequest{ContainerID: id}); err != nil && !isNotFound(err) {
		return fmt.Errorf("wait: %w", err)
	}
	return nil
}

// signal sends sig to all of the task's processes; done is true when there is no
// running task (none, or it has exited: containerd answers NotFound or
// FailedPrecondition).
func (c *Client) signal(ctx context.Context, id string, sig syscall.Signal) (done bool, err error) {
	_, err = c.tasks.Kill(c.ns(ctx), &tasksapi.KillRequest{ContainerID: id, Signal: uint32(sig), All: true})
	switch status.Code(err) {
	case codes.OK:
		return false, nil
	case codes.NotFound, codes.FailedPrecondition:
		return true, nil
	default:
		return false, fmt.Errorf("kill %s: %w", unix.SignalName(sig), err)
	}
}
