package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kiln-os/kiln/api/machine"
)

func (f *fakeNode) Processes(context.Context, *machine.ProcessesRequest) (*machine.ProcessesResponse, error) {
	return &machine.ProcessesResponse{Processes: []*machine.ProcessInfo{
		{Pid: 1, User: "root", State: "S", CpuSeconds: 1.5, RssBytes: 20 << 20, Command: "/sbin/init", Threads: 9}, // hostdeps:node
		{Pid: 412, Ppid: 1, User: "apid", State: "S", RssBytes: 512, Command: "/sbin/init apid --port 50000"},
	}}, nil
}

func (f *fakeNode) Memory(context.Context, *machine.MemoryRequest) (*machine.MemoryResponse, error) {
	return &machine.MemoryResponse{Total: 2 << 30, Free: 1 << 30, Available: 3 << 29, Cached: 1 << 28}, nil
}

func (f *fakeNode) Mounts(context.Context, *machine.MountsRequest) (*machine.MountsResponse, error) {
	return &machine.MountsResponse{Mounts: []*machine.MountInfo{
		{Source: "/dev/loop0", MountPoint: "/", FsType: "squashfs", Options: []string{"ro", "relatime"}, ReadOnly: true},
	}}, nil
}

func (f *fakeNode) Disks(context.Context, *machine.DisksRequest) (*machine.DisksResponse, error) {
	return &machine.DisksResponse{Disks: []*machine.DiskInfo{{Name: "vda", SizeBytes: 20 << 30, Boot: true,
		Partitions: []*machine.PartitionInfo{{Name: "vda1", Number: 1, Label: "EFI", SizeBytes: 100 << 20}}}}}, nil
}

func (f *fakeNode) Netstat(context.Context, *machine.NetstatRequest) (*machine.NetstatResponse, error) {
	return &machine.NetstatResponse{Sockets: []*machine.SocketInfo{{Protocol: "tcp", Local: "0.0.0.0:50000", Remote: "0.0.0.0:0", State: "LISTEN", Pid: 412, Process: "apid"}}}, nil
}

func (f *fakeNode) ListFiles(_ context.Context, req *machine.ListFilesRequest) (*machine.ListFilesResponse, error) {
	if strings.HasPrefix(req.GetPath(), "/system/state") {
		return nil, status.Error(codes.PermissionDenied, "diag: forbidden path: /system/state is STATE")
	}
	return &machine.ListFilesResponse{Path: req.GetPath(), Files: []*machine.FileInfo{
		{Name: "os-release", Mode: "-rw-r--r--", Size: 9, Modified: timestamppb.New(fakeTime)},
		{Name: "link", Mode: "Lrwxrwxrwx", Link: "os-release", Modified: timestamppb.New(fakeTime)},
	}}, nil
}

func (f *fakeNode) ReadFile(_ context.Context, req *machine.ReadFileRequest) (*machine.ReadFileResponse, error) {
	return &machine.ReadFileResponse{Data: []byte("ID=kiln\n")}, nil
}

func (f *fakeNode) ServiceStop(_ context.Context, req *machine.ServiceStopRequest) (*machine.ServiceStopResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped = append(f.stopped, req.GetName())
	return &machine.ServiceStopResponse{}, nil
}

func (f *fakeNode) ServiceStart(_ context.Context, req *machine.ServiceStartRequest) (*machine.ServiceStartResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started = append(f.started, req.GetName())
	return &machine.ServiceStartResponse{}, nil
}

func (f *fakeNode) Logs(req *machine.LogsRequest, stream grpc.ServerStreamingServer[machine.LogLine]) error {
	line := "since=none"
	if req.GetSince() != nil {
		line = "since=" + req.GetSince().AsTime().UTC().Format(time.RFC3339)
	}
	return stream.Send(&machine.LogLine{Time: timestamppb.New(fakeTime), Service: req.GetService(), Line: line})
}

func TestDiagnosticTables(t *testing.T) {
	_, kc := configuredNode(t, "os:operator")
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"processes"}, []string{"PID", "COMMAND", "/sbin/init", "1.50s", "20.0 MiB", "apid"}}, // hostdeps:node
		{[]string{"memory"}, []string{"TOTAL", "2.0 GiB", "1.5 GiB"}},
		{[]string{"mounts"}, []string{"MOUNTPOINT", "squashfs", "ro,relatime"}},
		{[]string{"disks"}, []string{"BOOT", "vda", "yes", "  vda1", "EFI", "100.0 MiB"}},
		{[]string{"netstat"}, []string{"PROCESS", "0.0.0.0:50000", "LISTEN", "412", "apid"}},
		{[]string{"ls", "/etc"}, []string{"MODIFIED", "os-release", "link -> os-release", "2026-01-02T03:04:05Z"}},
		{[]string{"read", "/etc/os-release"}, []string{"ID=kiln\n"}}, // hostdeps:node
		{[]string{"service", "stop", "trustd"}, []string{"service trustd stopped"}},
		{[]string{"service", "start", "trustd"}, []string{"service trustd started"}},
	} {
		r := runCtl(t, append([]string{"--kiln-config", kc}, c.args...)...)
		if r.err != nil {
			t.Errorf("%v: %v", c.args, r.err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("%v: output lacks %q:\n%s", c.args, w, r.stdout)
			}
		}
	}
}

func TestDiagnosticJSON(t *testing.T) {
	_, kc := configuredNode(t, "os:reader")
	r := runCtl(t, "--kiln-config", kc, "-o", "json", "disks")
	if r.err != nil {
		t.Fatal(r.err)
	}
	var disks struct {
		Disks []struct {
			Name       string `json:"name"`
			Boot       bool   `json:"boot"`
			Partitions []struct {
				Label string `json:"label"`
			} `json:"partitions"`
		} `json:"disks"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &disks); err != nil {
		t.Fatalf("%v:\n%s", err, r.stdout)
	}
	if len(disks.Disks) != 1 || !disks.Disks[0].Boot || disks.Disks[0].Partitions[0].Label != "EFI" {
		t.Errorf("disks JSON = %+v", disks)
	}
}

func TestServiceActions(t *testing.T) {
	node, kc := configuredNode(t, "os:operator")
	runCtl(t, "--kiln-config", kc, "service", "stop", "trustd")
	runCtl(t, "--kiln-config", kc, "service", "start", "etcd")
	if strings.Join(node.stopped, ",") != "trustd" || strings.Join(node.started, ",") != "etcd" {
		t.Errorf("stopped %v, started %v", node.stopped, node.started)
	}
	r := runCtl(t, "--kiln-config", kc, "service", "pause", "trustd")
	if r.err == nil || !strings.Contains(r.err.Error(), "start, stop and restart") {
		t.Errorf("service pause: %v", r.err)
	}
}

// TestRoleRefusals: a reader may not stop services or read files; the error names the
// role needed.
func TestRoleRefusals(t *testing.T) {
	_, kc := configuredNode(t, "os:reader")
	for _, args := range [][]string{{"service", "stop", "trustd"}, {"service", "start", "trustd"}, {"ls", "/"}, {"read", "/etc/os-release"}} { // hostdeps:node
		r := runCtl(t, append([]string{"--kiln-config", kc}, args...)...)
		if status.Code(r.err) != codes.PermissionDenied || !strings.Contains(r.err.Error(), "os:operator") {
			t.Errorf("%v as reader: %v, want PermissionDenied naming os:operator", args, r.err)
		}
	}
	_, kc = configuredNode(t, "os:operator")
	r := runCtl(t, "--kiln-config", kc, "ls", "/system/state")
	if status.Code(r.err) != codes.PermissionDenied || !strings.Contains(r.err.Error(), "STATE") {
		t.Errorf("ls /system/state: %v", r.err)
	}
}

func TestSince(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for in, want := range map[string]string{"10m": "2026-03-04T04:56:07Z", "2026-01-02T03:04:05Z": "2026-01-02T03:04:05Z"} {
		ts, err := parseSince(in, now)
		if err != nil || ts.AsTime().UTC().Format(time.RFC3339) != want {
			t.Errorf("parseSince(%q) = %v, %v, want %s", in, ts, err, want)
		}
	}
	for _, bad := range []string{"yesterday", "-5m", "2026-01-02"} {
		if _, err := parseSince(bad, now); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("parseSince(%q) = %v, want an error naming it", bad, err)
		}
	}
	_, kc := configuredNode(t, "os:reader")
	r := runCtl(t, "--kiln-config", kc, "logs", "apid", "--since", "2026-01-02T03:04:05Z")
	if r.err != nil || !strings.Contains(r.stdout, "since=2026-01-02T03:04:05Z") {
		t.Errorf("logs --since sent: %q, %v", r.stdout, r.err)
	}
	if r := runCtl(t, "--kiln-config", kc, "dmesg", "--since", "soon"); r.err == nil || !strings.Contains(r.err.Error(), "RFC 3339") {
		t.Errorf("dmesg --since soon: %v", r.err)
	}
}

func TestTimeReadsTimeStatus(t *testing.T) {
	node, kc := configuredNode(t, "os:reader")
	node.resources = map[string]any{"TimeStatus/node": map[string]any{"synced": true, "server": "10.0.2.2", "offset": "-1.2ms"}}
	r := runCtl(t, "--kiln-config", kc, "time")
	if r.err != nil || !strings.Contains(r.stdout, "10.0.2.2") || !strings.Contains(r.stdout, "-1.2ms") || !strings.Contains(r.stdout, "yes") {
		t.Errorf("time: %v\n%s", r.err, r.stdout)
	}
	node.resources = map[string]any{}
	if r := runCtl(t, "--kiln-config", kc, "time"); r.err == nil || !strings.Contains(r.err.Error(), "time sync has not run") {
		t.Errorf("time without TimeStatus: %v", r.err)
	}
}
