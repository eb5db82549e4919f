package apid

import (
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
)

// frame is one gRPC message as it crossed the wire. apid passes it on to machined (and
// machined's answer back) without decoding it, so a new RPC needs no code here: machined,
// which knows the message types, is the one that parses them.
type frame struct {
	data mem.BufferSlice
}

// frameCodec moves frames as they are and hands every other message (those of the
// services apid serves itself, such as reflection) to the proto codec. It is forced on
// apid's server (grpc.ForceServerCodecV2), which uses one codec for every service, and on
// each backend call (grpc.ForceCodecV2).
type frameCodec struct{}

// protoCodec is gRPC's default codec, registered by its package's init.
var protoCodec = encoding.GetCodecV2(proto.Name)

// Marshal gives gRPC the frame's reference to its buffers: the encoding.CodecV2 doc says
// gRPC frees the returned buffers once they are written, so a frame is sent at most once.
func (frameCodec) Marshal(v any) (mem.BufferSlice, error) {
	f, ok := v.(*frame)
	if !ok {
		return protoCodec.Marshal(v)
	}
	return f.data, nil
}

// Unmarshal keeps data in the frame. gRPC frees data when Unmarshal returns, so the frame
// takes a reference of its own (encoding.CodecV2), which Marshal passes on. A frame that
// is never sent (the call ended first) leaves its buffer to the garbage collector instead
// of the pool: a missed reuse, nothing worse.
func (frameCodec) Unmarshal(data mem.BufferSlice, v any) error {
	f, ok := v.(*frame)
	if !ok {
		return protoCodec.Unmarshal(data, v)
	}
	data.Ref()
	f.data = data
	return nil
}

// Name is "proto": on a backend call it becomes the content-subtype, and machined must
// decode the bytes as the protobuf messages they are.
func (frameCodec) Name() string { return proto.Name }
