package main

import (
	"flag"
	"fmt"
	"maps"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kiln-os/kiln/api/machine"
)

// streamFlags are the flags of every log-like stream.
type streamFlags struct {
	follow bool
	tail   int
	since  string // logs and dmesg only
}

func (e *env) streamFlagSet(name string, sf *streamFlags) *flag.FlagSet {
	fs := e.flagSet(name)
	fs.BoolVar(&sf.follow, "f", false, "follow")
	fs.BoolVar(&sf.follow, "follow", false, "follow")
	fs.IntVar(&sf.tail, "tail", -1, "past entries to send first; -1 sends all kept")
	return fs
}

// logFlagSet is streamFlagSet with --since.
func (e *env) logFlagSet(name string, sf *streamFlags) *flag.FlagSet {
	fs := e.streamFlagSet(name, sf)
	fs.StringVar(&sf.since, "since", "", "only lines since a duration ago (10m) or an RFC 3339 time")
	return fs
}

// parseSince reads --since: a duration before now, or an RFC 3339 time; nil when unset.
func parseSince(value string, now time.Time) (*timestamppb.Timestamp, error) {
	if value == "" {
		return nil, nil
	}
	if d, err := time.ParseDuration(value); err == nil {
		if d < 0 {
			return nil, fmt.Errorf("%w: --since %q: a duration counts back from now, give it without a sign", errUsage, value)
		}
		return timestamppb.New(now.Add(-d)), nil
	}
	t, err := time.Parse(time.RFC3339, value)
	if err != nil {
		return nil, fmt.Errorf("%w: --since %q is neither a duration (10m, 1h30m) nor an RFC 3339 time (2026-01-02T15:04:05Z)", errUsage, value)
	}
	return timestamppb.New(t), nil
}

func cmdLogs(e *env, args []string) error {
	var sf streamFlags
	pos, err := parseArgs(e.logFlagSet("logs", &sf), args, 1, 1)
	if err != nil {
		return err
	}
	since, err := parseSince(sf.since, time.Now())
	if err != nil {
		return err
	}
	api, done, err := e.dial()
	if err != nil {
		return err
	}
	defer done()
	stream, err := api.Logs(e.ctx, &machine.LogsRequest{Service: pos[0], Follow: sf.follow, TailLines: int32(sf.tail), Since: since})
	if err != nil {
		return err
	}
	return printStream(e, stream, e.printLogLine)
}

func cmdDmesg(e *env, args []string) error {
	var sf streamFlags
	if _, err := parseArgs(e.logFlagSet("dmesg", &sf), args, 0, 0); err != nil {
		return err
	}
	since, err := parseSince(sf.since, time.Now())
	if err != nil {
		return err
	}
	api, done, err := e.dial()
	if err != nil {
		return err
	}
	defer done()
	stream, err := api.Dmesg(e.ctx, &machine.DmesgRequest{Follow: sf.follow, TailLines: int32(sf.tail), Since: since})
	if err != nil {
		return err
	}
	return printStream(e, stream, e.printLogLine)
}

func cmdEvents(e *env, args []string) error {
	var sf streamFlags
	if _, err := parseArgs(e.streamFlagSet("events", &sf), args, 0, 0); err != nil {
		return err
	}
	api, done, err := e.dial()
	if err != nil {
		return err
	}
	defer done()
	stream, err := api.Events(e.ctx, &machine.EventsRequest{Follow: sf.follow, TailEvents: int32(sf.tail)})
	if err != nil {
		return err
	}
	if !e.structured() {
		fmt.Fprintf(e.stdout, eventFormat, "SEQ", "TIME", "TYPE", "NAME", "STATE", "DETAIL")
	}
	return printStream(e, stream, e.printEvent)
}

// printStream prints each message of a server stream as it arrives: as a table row
// through row, or as one structured document each. It returns nil when the server ends
// the stream or the operator's context is cancelled (Ctrl-C).
func printStream[M any, PM interface {
	*M
	proto.Message
}](e *env, stream grpc.ServerStreamingClient[M], row func(PM)) error {
	p := e.printer(true)
	defer p.close()
	for {
		msg, err := stream.Recv()
		if err != nil {
			if e.streamEnded(err) {
				return p.close()
			}
			return err
		}
		if !e.structured() {
			row(PM(msg))
			continue
		}
		if err := p.message(PM(msg)); err != nil {
			return err
		}
	}
}

// logTime is a timestamp to the millisecond: enough to order lines, short enough to read.
const logTime = "2006-01-02T15:04:05.000Z07:00"

func (e *env) printLogLine(l *machine.LogLine) {
	fmt.Fprintf(e.stdout, "%s %s: %s\n", l.GetTime().AsTime().UTC().Format(logTime), l.GetService(), l.GetLine())
}

// eventFormat is a fixed-width row: a stream cannot wait for tabwriter to see every row.
const eventFormat = "%-6s %-24s %-8s %-24s %-10s %s\n"

func (e *env) printEvent(ev *machine.Event) {
	fmt.Fprintf(e.stdout, eventFormat, fmt.Sprint(ev.GetSeq()), ev.GetTime().AsTime().UTC().Format(logTime),
		ev.GetType(), ev.GetName(), ev.GetState(), eventDetail(ev))
}

// eventDetail is the error, then the fields in key order.
func eventDetail(ev *machine.Event) string {
	detail := ev.GetError()
	for _, k := range slices.Sorted(maps.Keys(ev.GetFields())) {
		if detail != "" {
			detail += " "
		}
		detail += k + "=" + ev.GetFields()[k]
	}
	return detail
}
