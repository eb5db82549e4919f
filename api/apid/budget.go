package apid

import (
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/machine"
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

// streamBudget counts the open streams per caller and in all. The zero value is ready.
type streamBudget struct {
	mu        sync.Mutex
	perCaller map[string]int
	total     int
}

// take reserves a stream for who, or returns the status that names the limit refusing it.
func (b *streamBudget) take(who string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.perCaller[who] >= MaxStreamsPerCaller {
		return status.Errorf(codes.ResourceExhausted,
			"%s already has %d streams open (logs, dmesg, events, watch), apid's limit per caller; end one and try again",
			who, MaxStreamsPerCaller)
	}
	if b.total >= MaxStreams {
		return status.Errorf(codes.ResourceExhausted,
			"apid already forwards %d streams (logs, dmesg, events, watch), its limit; try again when some end", MaxStreams)
	}
	if b.perCaller == nil {
		b.perCaller = map[string]int{}
	}
	b.perCaller[who]++
	b.total++
	return nil
}

// give returns the stream take reserved for who.
func (b *streamBudget) give(who string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total--
	if b.perCaller[who]--; b.perCaller[who] == 0 {
		delete(b.perCaller, who)
	}
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
