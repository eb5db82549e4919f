package machineapi

import (
	"context"
	"errors"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/initd/containers"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/kmsg"
	"github.com/kiln-os/kiln/initd/logbuf"
)

// Logs streams a service's (or machined's) recent output, then follows it.
func (s *Server) Logs(req *machine.LogsRequest, stream grpc.ServerStreamingServer[machine.LogLine]) error {
	if s.LogSet == nil {
		return errNotYet
	}
	buf, ok := s.LogSet.Lookup(req.GetService())
	if !ok { // a container's ring, by the container's name
		buf, ok = s.LogSet.Lookup(containers.LogSource(req.GetService()))
	}
	if !ok {
		return status.Errorf(codes.NotFound, "no logs for %q; sources: %s", req.GetService(), strings.Join(s.LogSet.Sources(), ", "))
	}
	since := sinceTime(req.GetSince())
	send := func(l logbuf.Line) error {
		if l.Time.Before(since) {
			return nil
		}
		return stream.Send(&machine.LogLine{Time: timestamppb.New(l.Time), Service: req.GetService(), Line: s.redactText(l.Text)})
	}
	if !req.GetFollow() {
		for _, l := range buf.Tail(int(req.GetTailLines())) {
			if err := send(l); err != nil {
				return err
			}
		}
		return nil
	}
	lines, why := buf.Follow(stream.Context(), int(req.GetTailLines()))
	for l := range lines {
		if err := send(l); err != nil {
			return err
		}
	}
	return streamEnd(why())
}

// Dmesg streams the kernel log.
func (s *Server) Dmesg(req *machine.DmesgRequest, stream grpc.ServerStreamingServer[machine.LogLine]) error {
	device := s.Kmsg
	if device == "" {
		device = kmsg.Device
	}
	since, boot := sinceTime(req.GetSince()), bootTime()
	err := kmsg.Read(stream.Context(), device, int(req.GetTailLines()), req.GetFollow(), func(r kmsg.Record) error {
		at := boot.Add(r.Uptime)
		if at.Before(since) {
			return nil
		}
		return stream.Send(&machine.LogLine{Time: timestamppb.New(at), Service: "kernel", Line: "[" + r.Uptime.String() + "] " + r.Text})
	})
	return streamEnd(err)
}

// sinceTime is a request's since, the zero time (nothing dropped) when unset.
func sinceTime(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

// bootTime is when the kernel's clock started: the wall clock minus CLOCK_MONOTONIC, the
// clock of kmsg's timestamps (both exclude suspend on the machines Kiln runs on).
func bootTime() time.Time {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return time.Time{}
	}
	return time.Now().Add(-time.Duration(ts.Nano()))
}

// Events streams this boot's events from the first (or the last tail_events), then follows.
func (s *Server) Events(req *machine.EventsRequest, stream grpc.ServerStreamingServer[machine.Event]) error {
	if s.EventSink == nil {
		return errNotYet
	}
	ch, why := s.EventSink.Subscribe(stream.Context(), int(req.GetTailEvents()), req.GetFollow())
	for e := range ch {
		if err := stream.Send(eventProto(e, s.redactText)); err != nil {
			return err
		}
	}
	return streamEnd(why())
}

// eventProto is an event as the API sends it, secrets redacted from its error and fields.
func eventProto(e events.Event, redact func(string) string) *machine.Event {
	fields := make(map[string]string, len(e.Fields))
	for k, v := range e.Fields {
		fields[k] = redact(v)
	}
	return &machine.Event{Seq: e.Seq, Time: timestamppb.New(e.Time), Type: e.Type, Name: e.Name, State: e.State,
		Error: redact(e.Error), Fields: fields}
}

// streamEnd maps why a stream ended to its status: a client that went away is no error.
func streamEnd(err error) error {
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Aborted, err.Error()+" (start the stream again)")
}

// caller names who called, from the metadata apid adds (api/apid).
func caller(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if cn := md.Get("x-kiln-caller-cn"); len(cn) > 0 {
		return cn[0]
	}
	return "unknown"
}
