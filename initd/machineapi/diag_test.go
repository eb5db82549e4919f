package machineapi

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/initd/diag"
)

func TestServiceStopStart(t *testing.T) {
	svcs := &fakeServices{}
	c := start(t, &Server{Services: func() Services { return svcs }})
	ctx := context.Background()
	if _, err := c.ServiceStop(ctx, &machine.ServiceStopRequest{Name: "trustd"}); err != nil || len(svcs.held) != 1 {
		t.Errorf("stop trustd: %v (held %v)", err, svcs.held)
	}
	if _, err := c.ServiceStart(ctx, &machine.ServiceStartRequest{Name: "trustd"}); err != nil || len(svcs.released) != 1 {
		t.Errorf("start trustd: %v (released %v)", err, svcs.released)
	}
	if _, err := c.ServiceStop(ctx, &machine.ServiceStopRequest{Name: "nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("stop nope: %v, want NotFound", err)
	}
	for _, name := range []string{"apid", "watchdogd"} {
		_, err := c.ServiceStop(ctx, &machine.ServiceStopRequest{Name: name})
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), name) {
			t.Errorf("stop %s: %v, want FailedPrecondition naming it", name, err)
		}
	}
	if len(svcs.held) != 1 {
		t.Errorf("a protected service reached the supervisor: held %v", svcs.held)
	}
}

func TestDiagnostics(t *testing.T) {
	files := t.TempDir()
	os.MkdirAll(filepath.Join(files, "system", "state"), 0o700)
	os.WriteFile(filepath.Join(files, "system", "state", "config.yaml"), []byte("token: x"), 0o600)
	os.WriteFile(filepath.Join(files, "big"), make([]byte, diag.MaxRead+1), 0o600)
	os.WriteFile(filepath.Join(files, "hello"), []byte("hi"), 0o600)
	os.Symlink("system/state/config.yaml", filepath.Join(files, "link"))
	roots := diag.Roots{Proc: "../diag/testdata/proc", Sys: "../diag/testdata/sys", Files: files, ESPLabel: "EFI"}
	c := start(t, &Server{Diag: &roots})
	ctx := context.Background()

	procs, err := c.Processes(ctx, &machine.ProcessesRequest{})
	if err != nil || len(procs.Processes) != 3 || procs.Processes[0].Command != "/sbin/init" { // hostdeps:node
		t.Errorf("Processes = %v, %v", procs, err)
	}
	if m, err := c.Memory(ctx, &machine.MemoryRequest{}); err != nil || m.Total == 0 {
		t.Errorf("Memory = %v, %v", m, err)
	}
	if m, err := c.Mounts(ctx, &machine.MountsRequest{}); err != nil || len(m.Mounts) != 4 {
		t.Errorf("Mounts = %v, %v", m, err)
	}
	if d, err := c.Disks(ctx, &machine.DisksRequest{}); err != nil || len(d.Disks) != 2 || !d.Disks[0].Boot {
		t.Errorf("Disks = %v, %v", d, err)
	}
	if n, err := c.Netstat(ctx, &machine.NetstatRequest{}); err != nil || len(n.Sockets) != 6 {
		t.Errorf("Netstat = %v, %v", n, err)
	}
	if r, err := c.ReadFile(ctx, &machine.ReadFileRequest{Path: "/hello"}); err != nil || string(r.Data) != "hi" {
		t.Errorf("ReadFile(/hello) = %v, %v", r, err)
	}
	if l, err := c.ListFiles(ctx, &machine.ListFilesRequest{Path: "/"}); err != nil || len(l.Files) != 4 {
		t.Errorf("ListFiles(/) = %v, %v", l, err)
	}
	refusals := []struct {
		path string
		code codes.Code
	}{
		{"/system/state/config.yaml", codes.PermissionDenied},
		{"/link", codes.PermissionDenied},
		{"/big", codes.FailedPrecondition},
		{"hello", codes.InvalidArgument},
		{"/missing", codes.NotFound},
	}
	for _, r := range refusals {
		if _, err := c.ReadFile(ctx, &machine.ReadFileRequest{Path: r.path}); status.Code(err) != r.code {
			t.Errorf("ReadFile(%s) = %v, want %s", r.path, err, r.code)
		}
	}
	if _, err := c.ListFiles(ctx, &machine.ListFilesRequest{Path: "/system/state"}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("ListFiles(/system/state) = %v, want PermissionDenied", err)
	}
}
