package machineapi

import (
	"strconv"

	"google.golang.org/grpc"
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

// budgetStreams is the stream interceptor that holds every stream to the budget before
// its handler opens anything.
func (s *Server) budgetStreams(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	who := "caller " + strconv.Quote(caller(ss.Context()))
	if err := s.streams.Take(who); err != nil {
		return err
	}
	defer s.streams.Give(who)
	return handler(srv, ss)
}
