// Package client is how an operator's tools reach a node's API: the kilnctl config file
// (~/.kiln/config, contexts of endpoints and credentials), and Dial, which opens a gRPC
// connection to apid with mutual TLS (or, for a node in maintenance mode, server-only TLS
// with the server certificate's fingerprint shown or pinned).
//
// Dial checks what it can before touching the network (the client certificate's NotAfter)
// and turns connection and handshake failures into errors that say what to do; the
// interceptors it installs do the same for gRPC status codes (a denied role, a node in
// maintenance mode), so every caller gets the same advice.
//
// The room: the client side only. It imports the generated API and api/rbac (to name the
// role a call needs) and never the node (initd), the apid server or the builder.
package client
