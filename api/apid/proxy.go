package apid

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// proxy forwards every call the gate admitted to machined, whatever its method, as raw
// frames. It is apid's grpc.UnknownServiceHandler: the gate (RBAC, maintenance mode, rate
// limit) has run before it, so a method missing from the RBAC table never gets here.
//
// Errors, headers and trailers from machined reach the client unchanged. The backend
// call lives in the client call's context, so a client that cancels or goes away
// cancels machined's side too, and the client's deadline travels with the call.
type proxy struct {
	backend grpc.ClientConnInterface
}

// anyCall describes every method to the backend as a bidirectional stream. Unary and
// streaming calls are the same on the wire (PROTOCOL-HTTP2.md: a request is a header and
// length-prefixed messages, a response adds trailers), so relaying frames both ways
// serves all four kinds; machined, which knows the method, enforces how many messages
// each side may send.
var anyCall = &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}

func (p *proxy) handle(_ any, client grpc.ServerStream) error {
	method, ok := grpc.MethodFromServerStream(client)
	if !ok {
		return status.Error(codes.Internal, "apid: call without a method name")
	}
	ctx, cancel := context.WithCancel(client.Context())
	defer cancel()
	backend, err := p.backend.NewStream(outgoing(ctx), anyCall, method, grpc.ForceCodecV2(frameCodec{}))
	if err != nil {
		return err
	}
	requests := make(chan error, 1)
	go func() { requests <- forwardRequests(client, backend) }()
	responses := make(chan error, 1)
	go func() { responses <- forwardResponses(backend, client) }()
	return finish(requests, responses, cancel)
}

// finish waits for the call to end and returns the status the client gets: machined's,
// unless the client's side failed first (a message over the size limit, a cancel).
//
// When machined ends first, forwardRequests may still wait in RecvMsg for a client that
// keeps sending; gRPC ends that RecvMsg when the handler returns, and the buffered
// channel lets the goroutine exit.
func finish(requests, responses <-chan error, cancelBackend context.CancelFunc) error {
	for {
		select {
		case err := <-requests:
			if err == nil {
				requests = nil // the client half-closed; wait for machined's answer
				continue
			}
			cancelBackend()
			<-responses // nothing may write to the client stream once the handler returns
			return err
		case err := <-responses:
			return err
		}
	}
}

// forwardRequests copies the client's messages to machined until the client half-closes.
func forwardRequests(from grpc.ServerStream, to grpc.ClientStream) error {
	for {
		var msg frame
		if err := from.RecvMsg(&msg); errors.Is(err, io.EOF) {
			return to.CloseSend()
		} else if err != nil {
			return err
		}
		// io.EOF from SendMsg means machined has ended the call; its status arrives
		// through RecvMsg on the response side (grpc.ClientStream.SendMsg).
		if err := to.SendMsg(&msg); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// forwardResponses copies machined's header, messages and trailer to the client and
// returns machined's status (nil for OK). Sends block while the client does not read, so
// a slow follower holds back machined's stream, whose own budget decides what to drop.
func forwardResponses(from grpc.ClientStream, to grpc.ServerStream) error {
	var msg frame
	err := from.RecvMsg(&msg)
	// Once RecvMsg has returned, Header does not block. gRPC sends a header set here with
	// the first message, or with the status when there is none.
	if md, headerErr := from.Header(); headerErr == nil && len(md) > 0 {
		if err := to.SetHeader(md); err != nil {
			return err
		}
	}
	for ; err == nil; err = from.RecvMsg(&msg) {
		if err := to.SendMsg(&msg); err != nil {
			return err
		}
		msg = frame{}
	}
	to.SetTrailer(from.Trailer())
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}
