package apid

import (
	"google.golang.org/grpc"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/internal/streambudget"
)

// MaxStreamsPerCaller is how many streams (Logs, Dmesg, Events, ResourceWatch, and apid's
// own reflection) one caller may have open through apid at once, over all its
// connections. It equals machined's own limit (initd/machineapi.MaxStreamsPerCaller),
// so apid refuses what machined would refuse before a frame leaves for machined, and a
// caller cannot multiply its budget by opening more connections: the per-connection
// limit (Limits.MaxConcurrentStreams) bounds one connection only.
const MaxStreamsPerCaller = 16

// MaxStreams is how many streams apid forwards at once, whoever asks; machined's limit
// (initd/machineapi.MaxStreams) is the same.
const MaxStreams = 64

// newStreamBudget is apid's budget: MaxStreamsPerCaller per caller, MaxStreams in all.
func newStreamBudget() *streambudget.Budget {
	return &streambudget.Budget{Server: "apid", PerCaller: MaxStreamsPerCaller, Total: MaxStreams}
}

// streamingMethods names the methods the budget counts: the machine API's streams (from
// its generated service description, as machined counts them) and the streams apid
// serves itself. Unary calls are not counted: they end on their own, and the rate
// limiter bounds how many a caller starts.
func streamingMethods(srv *grpc.Server) map[string]bool {
	methods := map[string]bool{}
	for _, s := range machine.MachineService_ServiceDesc.Streams {
		methods["/"+machine.MachineService_ServiceDesc.ServiceName+"/"+s.StreamName] = true
	}
	for service, info := range srv.GetServiceInfo() {
		for _, m := range info.Methods {
			if m.IsClientStream || m.IsServerStream {
				methods["/"+service+"/"+m.Name] = true
			}
		}
	}
	return methods
}
