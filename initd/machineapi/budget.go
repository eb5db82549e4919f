package machineapi

import (
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// MaxStreamsPerCaller is how many streams (Logs, Dmesg, Events, ResourceWatch) one caller
// may have open at once: enough for a person following a few services, the kernel log and
// the events in separate terminals, and small enough that one certificate holder cannot
// take the whole of MaxStreams alone.
const MaxStreamsPerCaller = 16

// MaxStreams is how many streams machined serves at once, whoever asks. Each Dmesg stream
// holds a /dev/kmsg descriptor in PID 1 and each Events or Logs follow a buffer in its
// heap, so this bounds both, far below PID 1's descriptor limit.
const MaxStreams = 64

// streamBudget counts the open streams per caller and in all. The zero value is ready.
type streamBudget struct {
	mu        sync.Mutex
	perCaller map[string]int
	total     int
}

// take reserves a stream for who, or says which limit refuses it.
func (b *streamBudget) take(who string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.perCaller[who] >= MaxStreamsPerCaller {
		return status.Errorf(codes.ResourceExhausted,
			"caller %q already has %d streams open (logs, dmesg, events, watch), the limit per caller; end one and try again",
			who, MaxStreamsPerCaller)
	}
	if b.total >= MaxStreams {
		return status.Errorf(codes.ResourceExhausted,
			"machined already serves %d streams (logs, dmesg, events, watch), its limit; try again when some end", MaxStreams)
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

// budgetStreams is the stream interceptor that holds every stream to the budget before
// its handler opens anything.
func (s *Server) budgetStreams(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	who := caller(ss.Context())
	if err := s.streams.take(who); err != nil {
		return err
	}
	defer s.streams.give(who)
	return handler(srv, ss)
}
