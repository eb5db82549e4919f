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
	go func() {
		err := forwardRequests(client, backend)
		requests <- err // before the cancel, so the handler finds it once responses end
		if err != nil {
			cancel()
		}
	}()
	responsesErr := forwardResponses(backend, client)
	return firstFailure(requests, responsesErr)
}

// firstFailure returns the status the client gets: machined's, unless the client's side
// failed first (a message over the size limit, a cancel) and so cut machined off.
//
// When machined ends first, forwardRequests may still wait in RecvMsg for a client that
// keeps sending. gRPC cancels the stream once the handler returns, which ends that
// RecvMsg (internal/transport closeStream: "cancel needs to be called to interrupt the
// potential blocking on other goroutines"), and the buffered channel lets it exit.
func firstFailure(requests <-chan error, responsesErr error) error {
	select {
	case err := <-requests:
		if err != nil {
			return err
		}
	default:
	}
	return responsesErr
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
	}
	to.SetTrailer(from.Trailer())
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}
