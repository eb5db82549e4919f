package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/api/rbac"
)

// fakeNode is an in-process MachineService with canned answers. With maintenance set it
// answers like a node without a config: Version and ApplyConfiguration only.
type fakeNode struct {
	machine.UnimplementedMachineServiceServer
	maintenance bool

	mu      sync.Mutex
	applied *machine.ApplyConfigurationRequest
	reboots int

	// Upgrade and Rollback (upgrade_test.go)
	upgradeOpts *machine.UpgradeOptions
	chunks      [][]byte
	upgradeErr  error
	downAfter   int            // how many ResourceGet calls fail after an Upgrade or a Rollback
	down        int            // how many still fail
	bootStatus  map[string]any // runtime/BootStatus's spec

	// Diagnostics and health (diag_test.go, health_test.go)
	resources map[string]any   // "Type/id" → spec; when set, ResourceGet answers from it only
	services  []map[string]any // runtime/Service specs, when set
	events    []*machine.Event // the event history, when set
	stopped   []string         // ServiceStop names
	started   []string         // ServiceStart names
}

var fakeTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func (f *fakeNode) Version(context.Context, *machine.VersionRequest) (*machine.VersionResponse, error) {
	return &machine.VersionResponse{Version: "v0.1.0", GoVersion: "go1.26", KernelRelease: "6.1.0-kiln", Maintenance: f.maintenance}, nil
}

func (f *fakeNode) ServiceList(context.Context, *machine.ServiceListRequest) (*machine.ServiceListResponse, error) {
	if f.maintenance {
		return nil, status.Error(codes.Unavailable, "node is in maintenance mode: it serves Version and ApplyConfiguration only")
	}
	return &machine.ServiceListResponse{Services: []*machine.ServiceInfo{
		{Name: "apid", State: "running", Health: "healthy", Pid: 412, Since: timestamppb.New(fakeTime)},
		{Name: "containerd", State: "failed", Health: "unknown", Restarts: 3},
	}}, nil
}

// Events sends two events, then, when asked to follow, waits for the client to leave.
func (f *fakeNode) Events(req *machine.EventsRequest, stream grpc.ServerStreamingServer[machine.Event]) error {
	if f.events != nil {
		for _, ev := range f.events {
			if err := stream.Send(ev); err != nil {
				return err
			}
		}
		return nil
	}
	for i, name := range []string{"Storage", "Network"} {
		ev := &machine.Event{Seq: uint64(i + 1), Time: timestamppb.New(fakeTime), Type: "phase", Name: name, State: "done", Fields: map[string]string{"took": "1s"}}
		if err := stream.Send(ev); err != nil {
			return err
		}
	}
	if req.GetFollow() {
		<-stream.Context().Done()
	}
	return nil
}

func (f *fakeNode) ResourceList(_ context.Context, req *machine.ResourceListRequest) (*machine.ResourceListResponse, error) {
	if req.GetType() == "ContainerStatus" {
		return &machine.ResourceListResponse{Resources: []*machine.Resource{{
			Metadata: &machine.ResourceMetadata{Namespace: "runtime", Type: "ContainerStatus", Id: "hello"},
			SpecJson: []byte(`{"name":"hello","image":"kiln.test/hello:1","state":"running","pid":812,"restarts":1,"exitCode":3,"since":"2026-01-02T03:04:05Z","restart":"always"}`),
		}}}, nil
	}
	if f.services != nil && req.GetType() == "Service" {
		resp := &machine.ResourceListResponse{}
		for _, spec := range f.services {
			b, _ := json.Marshal(spec)
			resp.Resources = append(resp.Resources, &machine.Resource{
				Metadata: &machine.ResourceMetadata{Namespace: "runtime", Type: "Service", Id: spec["name"].(string)}, SpecJson: b})
		}
		return resp, nil
	}
	return &machine.ResourceListResponse{Resources: []*machine.Resource{{
		Metadata: &machine.ResourceMetadata{Namespace: "network", Type: req.GetType(), Id: "eth0", Version: 2, Owner: "network.AddressController", Updated: timestamppb.New(fakeTime)},
		SpecJson: []byte(`{"address":"10.0.2.15/24","link":"eth0"}`),
	}}}, nil
}

func (f *fakeNode) ApplyConfiguration(_ context.Context, req *machine.ApplyConfigurationRequest) (*machine.ApplyConfigurationResponse, error) {
	f.mu.Lock()
	f.applied = proto.Clone(req).(*machine.ApplyConfigurationRequest)
	f.mu.Unlock()
	mode := "no_reboot"
	if req.GetDryRun() {
		mode = "dry_run"
	}
	return &machine.ApplyConfigurationResponse{Diff: "-hostname: a\n+hostname: b\n", ModeApplied: mode}, nil
}

func (f *fakeNode) Reboot(context.Context, *machine.RebootRequest) (*machine.RebootResponse, error) {
	f.mu.Lock()
	f.reboots++
	f.mu.Unlock()
	return &machine.RebootResponse{}, nil
}

func (f *fakeNode) PCRRead(context.Context, *machine.PCRReadRequest) (*machine.PCRReadResponse, error) {
	return &machine.PCRReadResponse{Banks: []*machine.PCRBank{{Bank: "sha256", Values: map[uint32][]byte{11: {0xab, 0xcd}, 7: {0x01}}}}}, nil
}

func (f *fakeNode) InspectControllers(context.Context, *machine.InspectControllersRequest) (*machine.InspectControllersResponse, error) {
	return &machine.InspectControllersResponse{Controllers: []*machine.ControllerInfo{{
		Name:    "SysctlController",
		Inputs:  []*machine.ResourceKind{{Namespace: "config", Type: "MachineConfig"}},
		Outputs: []*machine.ResourceKind{{Namespace: "runtime", Type: "SysctlStatus"}},
	}}}, nil
}

// authorize denies like apid: the role comes from the verified client certificate's
// Organization and the method's least role from api/rbac.
func authorize(ctx context.Context, method string) error {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return status.Error(codes.Unauthenticated, "no peer")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return status.Error(codes.Unauthenticated, "no client certificate")
	}
	if err := rbac.Authorize(method, rbac.Roles(info.State.PeerCertificates[0])); err != nil {
		return status.Error(codes.PermissionDenied, err.Error())
	}
	return nil
}

func rbacUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := authorize(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func rbacStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := authorize(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}

// serve starts node on 127.0.0.1 with conf and returns its address.
func serve(t *testing.T, node *fakeNode, conf *tls.Config, opts ...grpc.ServerOption) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(append(opts, grpc.Creds(credentials.NewTLS(conf)))...)
	machine.RegisterMachineServiceServer(srv, node)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// serveConfigured is a configured node: mutual TLS with ca, roles enforced.
func serveConfigured(t *testing.T, ca testCA, node *fakeNode) string {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	conf := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{ca.serverCert(t)},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}
	return serve(t, node, conf, grpc.UnaryInterceptor(rbacUnary), grpc.StreamInterceptor(rbacStream))
}

// serveMaintenance is a node without a config: a self-signed certificate, no client
// certificate asked for. It returns the address and the server certificate.
func serveMaintenance(t *testing.T) (string, tls.Certificate) {
	_, addr, cert := serveMaintenanceNode(t)
	return addr, cert
}

// serveMaintenanceNode is serveMaintenance that also returns the node, to see what it got.
func serveMaintenanceNode(t *testing.T) (*fakeNode, string, tls.Certificate) {
	cert := newTestCA(t).serverCert(t)
	conf := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}
	node := &fakeNode{maintenance: true}
	return node, serve(t, node, conf), cert
}
