package containers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	containersapi "github.com/containerd/containerd/api/services/containers/v1"
	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/kiln-os/kiln/internal/ocilayout"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// fakeTaskService is containerd's containers and tasks services over the fake's state: a
// task writes one line to each FIFO when created and exits on a signal.
type fakeTaskService struct {
	containersapi.UnimplementedContainersServer
	mu         sync.Mutex
	containers map[string]*containersapi.Container
	tasks      map[string]*fakeShimTask
	calls      []string
}

type fakeShimTask struct {
	outs   []*os.File
	exited chan struct{}
	code   uint32
}

type fakeTasks struct {
	tasksapi.UnimplementedTasksServer
	r *fakeTaskService
}

func (r *fakeTaskService) Create(_ context.Context, req *containersapi.CreateContainerRequest) (*containersapi.CreateContainerResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ctr := req.GetContainer()
	if _, ok := r.containers[ctr.GetID()]; ok {
		return nil, status.Errorf(codes.AlreadyExists, "container %s", ctr.GetID())
	}
	r.containers[ctr.GetID()] = ctr
	r.calls = append(r.calls, "container create "+ctr.GetID())
	return &containersapi.CreateContainerResponse{Container: ctr}, nil
}

func (r *fakeTaskService) Delete(_ context.Context, req *containersapi.DeleteContainerRequest) (*emptypb.Empty, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.containers[req.GetID()]; !ok {
		return nil, status.Errorf(codes.NotFound, "container %s", req.GetID())
	}
	delete(r.containers, req.GetID())
	r.calls = append(r.calls, "container delete "+req.GetID())
	return &emptypb.Empty{}, nil
}

func (r *fakeTaskService) List(context.Context, *containersapi.ListContainersRequest) (*containersapi.ListContainersResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*containersapi.Container
	for _, c := range r.containers {
		out = append(out, c)
	}
	return &containersapi.ListContainersResponse{Containers: out}, nil
}

func (x fakeTasks) Create(_ context.Context, req *tasksapi.CreateTaskRequest) (*tasksapi.CreateTaskResponse, error) {
	r := x.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.containers[req.GetContainerID()]; !ok {
		return nil, status.Errorf(codes.NotFound, "container %s", req.GetContainerID())
	}
	t := &fakeShimTask{exited: make(chan struct{})}
	for _, p := range []string{req.GetStdout(), req.GetStderr()} {
		f, err := os.OpenFile(p, os.O_WRONLY, 0) // does not block: Kiln holds the FIFO open
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		t.outs = append(t.outs, f)
	}
	t.outs[0].WriteString("first line on stdout\nsecond ")
	t.outs[1].WriteString("a line on stderr\n")
	t.outs[0].WriteString("half\n")
	r.tasks[req.GetContainerID()] = t
	r.calls = append(r.calls, "task create "+req.GetContainerID())
	return &tasksapi.CreateTaskResponse{ContainerID: req.GetContainerID(), Pid: 42}, nil
}

func (x fakeTasks) Start(_ context.Context, req *tasksapi.StartRequest) (*tasksapi.StartResponse, error) {
	x.r.mu.Lock()
	defer x.r.mu.Unlock()
	if _, ok := x.r.tasks[req.GetContainerID()]; !ok {
		return nil, status.Errorf(codes.NotFound, "task %s", req.GetContainerID())
	}
	return &tasksapi.StartResponse{Pid: 42}, nil
}

func (x fakeTasks) task(id string) (*fakeShimTask, error) {
	x.r.mu.Lock()
	defer x.r.mu.Unlock()
	t, ok := x.r.tasks[id]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "task %s", id)
	}
	return t, nil
}

func (x fakeTasks) Wait(ctx context.Context, req *tasksapi.WaitRequest) (*tasksapi.WaitResponse, error) {
	t, err := x.task(req.GetContainerID())
	if err != nil {
		return nil, err
	}
	select {
	case <-t.exited:
		return &tasksapi.WaitResponse{ExitStatus: t.code, ExitedAt: timestamppb.Now()}, nil
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

func (x fakeTasks) Kill(_ context.Context, req *tasksapi.KillRequest) (*emptypb.Empty, error) {
	t, err := x.task(req.GetContainerID())
	if err != nil {
		return nil, err
	}
	x.r.mu.Lock()
	defer x.r.mu.Unlock()
	x.r.calls = append(x.r.calls, "kill "+syscall.Signal(req.GetSignal()).String())
	select {
	case <-t.exited:
		return nil, status.Error(codes.NotFound, "process already finished")
	default:
	}
	t.code = 128 + req.GetSignal()
	close(t.exited)
	return &emptypb.Empty{}, nil
}

func (x fakeTasks) Delete(_ context.Context, req *tasksapi.DeleteTaskRequest) (*tasksapi.DeleteResponse, error) {
	t, err := x.task(req.GetContainerID())
	if err != nil {
		return nil, err
	}
	x.r.mu.Lock()
	defer x.r.mu.Unlock()
	for _, f := range t.outs {
		f.Close()
	}
	delete(x.r.tasks, req.GetContainerID())
	x.r.calls = append(x.r.calls, "task delete "+req.GetContainerID())
	return &tasksapi.DeleteResponse{ExitStatus: t.code, ExitedAt: timestamppb.Now()}, nil
}

// syncBuffer is a log that records each Write as one entry.
type syncBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, string(p))
	return len(p), nil
}

func (b *syncBuffer) has(line string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range b.lines {
		if l == line {
			return true
		}
	}
	return false
}

func TestStartRemove(t *testing.T) {
	rt := &fakeTaskService{containers: map[string]*containersapi.Container{}, tasks: map[string]*fakeShimTask{}}
	f, c := newFake(t, func(reg registrar) {
		containersapi.RegisterContainersServer(reg, rt)
		tasksapi.RegisterTasksServer(reg, fakeTasks{r: rt})
	})
	ctx := context.Background()
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(resolv, []byte("nameserver 192.0.2.53\n"), 0o644)
	c.resolvConf = resolv
	if _, err := c.Import(ctx, bytes.NewReader(helloArchive(t, "kiln.test/hello:1")), MaxImportBytes); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Start(ctx, Spec{ID: "web", Image: "kiln.test/absent:1"}, &syncBuffer{}); !errors.Is(err, ErrImageNotFound) {
		t.Fatalf("start on an absent image: %v", err)
	}

	out := &syncBuffer{}
	task, err := c.Start(ctx, Spec{ID: "web", Image: "kiln.test/hello:1", Args: []string{"-port", "8080"}, Env: []string{"B=2"}}, out)
	if err != nil {
		t.Fatal(err)
	}
	if task.PID() != 42 {
		t.Errorf("pid %d", task.PID())
	}
	deadline := time.Now().Add(5 * time.Second)
	for !(out.has("first line on stdout\n") && out.has("second half\n") && out.has("a line on stderr\n")) {
		if time.Now().After(deadline) {
			t.Fatalf("output %q", out.lines)
		}
		time.Sleep(10 * time.Millisecond)
	}

	rt.mu.Lock()
	ctr := rt.containers["web"]
	rt.mu.Unlock()
	if ctr.GetRuntime().GetName() != runcShim || ctr.GetSpec().GetTypeUrl() != specTypeURL || ctr.GetSnapshotKey() != "web" || ctr.GetSnapshotter() != Snapshotter {
		t.Errorf("container record %v", ctr)
	}
	var rs specs.Spec
	if err := json.Unmarshal(ctr.GetSpec().GetValue(), &rs); err != nil {
		t.Fatal(err)
	}
	if strings.Join(rs.Process.Args, " ") != "/bin/hello -port 8080" || rs.Process.Env[len(rs.Process.Env)-1] != "B=2" {
		t.Errorf("process %+v", rs.Process)
	}
	resolvCopy := filepath.Join(c.runDir, "web", "resolv.conf")
	if b, _ := os.ReadFile(resolvCopy); string(b) != "nameserver 192.0.2.53\n" {
		t.Errorf("resolv.conf copy %q", b)
	}
	if f.count("prepare web ") != 1 {
		t.Errorf("container snapshot not prepared: %q", f.writes())
	}
	if ids, err := c.Containers(ctx); err != nil || strings.Join(ids, ",") != "web" {
		t.Errorf("Containers = %v, %v", ids, err)
	}

	if err := c.Remove(ctx, "web", time.Second); err != nil {
		t.Fatal(err)
	}
	exit, err := task.Wait(ctx)
	if err != nil || exit.Code != 128+uint32(syscall.SIGTERM) {
		t.Errorf("exit %+v, %v", exit, err)
	}
	if _, err := os.Stat(filepath.Join(c.runDir, "web")); !os.IsNotExist(err) {
		t.Errorf("run directory left: %v", err)
	}
	if f.count("remove web") != 1 || len(rt.containers) != 0 || len(rt.tasks) != 0 {
		t.Errorf("left behind: %q %v %v", f.writes(), rt.containers, rt.tasks)
	}
	if err := c.Remove(ctx, "web", time.Second); err != nil {
		t.Errorf("second Remove: %v", err)
	}
	if err := c.Remove(ctx, "../x", time.Second); err == nil {
		t.Error("Remove took a path as an ID")
	}
}

func TestValidID(t *testing.T) {
	for id, ok := range map[string]bool{
		"web": true, "a": true, "web-1": true, strings.Repeat("a", 63): true,
		"": false, "-web": false, "web-": false, "Web": false, "a.b": false, "../x": false,
		"a/b": false, strings.Repeat("a", 64): false,
	} {
		if err := validID(id); (err == nil) != ok {
			t.Errorf("validID(%q) = %v", id, err)
		}
	}
}

// An image that names its user starts as the user its /etc/passwd gives; without the
// name there the start fails and leaves nothing.
func TestStartUserName(t *testing.T) {
	rt := &fakeTaskService{containers: map[string]*containersapi.Container{}, tasks: map[string]*fakeShimTask{}}
	f, c := newFake(t, func(reg registrar) {
		containersapi.RegisterContainersServer(reg, rt)
		tasksapi.RegisterTasksServer(reg, fakeTasks{r: rt})
	})
	files := map[string]ocilayout.File{
		"bin/hello":  {Mode: 0o755, Data: []byte("x")},
		"etc/passwd": {Mode: 0o644, Data: []byte("root:x:0:0::/root:/bin/sh\nweb:x:1000:1001::/:/bin/false\n")},
		"etc/group":  {Mode: 0o644, Data: []byte("root:x:0:\nstaff:x:50:\n")},
	}
	ctx := context.Background()
	for _, user := range []string{"web", "web:staff", "nobody"} {
		archive, err := ocilayout.Build("kiln.test/named:1", files, ocilayout.Config{Entrypoint: []string{"/bin/hello"}, User: user}) // hostdeps:node (a path in a container)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Import(ctx, bytes.NewReader(archive), MaxImportBytes); err != nil {
			t.Fatal(err)
		}
		_, err = c.Start(ctx, Spec{ID: "named", Image: "kiln.test/named:1"}, nil)
		if user == "nobody" {
			if err == nil || !strings.Contains(err.Error(), `no user "nobody" in the image's /etc/passwd`) || !strings.Contains(err.Error(), "kiln.test/named:1") {
				t.Fatalf("err = %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		var rs specs.Spec
		rt.mu.Lock()
		json.Unmarshal(rt.containers["named"].GetSpec().GetValue(), &rs)
		rt.mu.Unlock()
		want := map[string][2]uint32{"web": {1000, 1001}, "web:staff": {1000, 50}}[user]
		if rs.Process.User.UID != want[0] || rs.Process.User.GID != want[1] {
			t.Errorf("USER %s: runs as %+v, want %v", user, rs.Process.User, want)
		}
		if err := c.Remove(ctx, "named", time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(c.runDir, "named")); !os.IsNotExist(err) {
		t.Errorf("run directory: %v", err)
	}
	if f.count("prepare named") != 2 {
		t.Errorf("snapshots %q", f.writes())
	}
}
