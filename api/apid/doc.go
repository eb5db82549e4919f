// Package apid is the node's API gateway: a gRPC server on :50000 that authenticates
// callers by mutual TLS (TLS 1.3, client certificate signed by the cluster OS CA),
// authorizes each call against the api/rbac table, limits it (message sizes, concurrent
// streams, a per-caller token bucket, keepalive) and forwards it to machined over a unix
// socket, with the caller's identity in the outgoing metadata (MetadataCallerCN,
// MetadataCallerRoles).
//
// Forwarding is one generic proxy (grpc.UnknownServiceHandler) that relays messages as
// raw frames, both ways, for unary and streaming calls alike: apid has no code per RPC
// and decodes no machine message. A new RPC needs its proto, one line in the RBAC table,
// machined's implementation and the kilnctl command; a method missing from the table is
// PermissionDenied before anything reaches machined. Gateway budgets hold for frames as
// for messages: the size limits, the stream limit and HTTP/2 flow control (a client that
// stops reading holds machined's stream back; apid keeps one message in flight per
// direction).
//
// apid never touches machine state itself: it holds no config, no resources and no
// service handles, and every answer a client gets comes from machined. It must not import
// initd/.
//
// # Stream budget
//
// A caller (a client certificate's common name, as machined counts it) may have at most
// MaxStreamsPerCaller (16) streams open through apid at once, over all its connections,
// and apid forwards at most MaxStreams (64) in all; both equal machined's own limits. A
// stream over either is refused with ResourceExhausted, naming the limit, after RBAC and
// the rate limit and before anything reaches machined. The streams counted are those of
// the machine API's description (Logs, Dmesg, Events, ResourceWatch) and apid's own
// (reflection); unary calls end on their own and only the rate limit bounds them.
//
// In maintenance mode (a node without a config) apid serves a self-signed certificate,
// asks for no client certificate, and forwards only Version and ApplyConfiguration; every
// other call is Unavailable and tells the operator to apply a config. There it reads no
// message over a config's limit (config.MaxSize), and ApplyConfiguration has a budget of
// its own per peer address (a few at once, then one every ten seconds), because anyone who
// reaches the port may call it and each call costs PID 1 a decode.
//
// Main is the entry point for the multi-call binary (`machined apid ...`). Its flags:
//
//	--listen ADDR            address to listen on (default :50000)
//	--ca FILE                CA certificates (PEM bundle: the cluster OS CA and the config's
//	                         acceptedCAs) that client certificates must chain to; read at
//	                         each handshake, so a CA rolled in or out needs no restart
//	--cert FILE, --key FILE  apid's server certificate and key (PEM)
//	--machined-socket PATH   machined's gRPC unix socket (default /run/machined/machined.sock)
//	--maintenance            maintenance mode: no client certificate, no --ca; the server
//	                         certificate is --cert/--key if given (machined shows its
//	                         fingerprint), else a fresh self-signed one that apid logs
package apid
