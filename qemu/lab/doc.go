// Package lab is the harness's lab network: a network namespace with one bridge, the
// host's address on it, and a tap per VM, for tests that need more than one machine on a
// network (netboot, worker join).
//
// Addresses exist only inside the namespace (Subnet). The namespace has no uplink, no
// default route and no NAT, and forwarding is off, so nothing on the lab reaches the host's
// networks or beyond. The package refuses every address outside Subnet: it puts none on
// the lab, and Dial will not connect to one.
//
// Three ways in, none of which moves the test process itself into the namespace:
//
//   - AddTap makes a tap on the bridge for a VM; QEMU runs inside the namespace on it
//     (qemu.WithLabNIC, which starts QEMU under `ip netns exec`).
//   - Command runs a host-side program (kiln pxe serve, dnsmasq, kilnctl) inside it.
//   - Dial and Listen make a socket inside it from the test process, on a locked thread
//     that enters the namespace for the socket() call only (usable as a gRPC dialer).
//
// Close deletes the namespace, which takes the bridge and the taps with it; New registers
// Close with the test's cleanup, which runs when the test fails or panics. A run that was
// killed before its cleanup leaves a namespace named after its pid: the next New deletes
// the namespaces of pids that no longer exist.
//
// The package builds the lab with iproute2's ip(8) (Debian package iproute2) and needs
// root (CAP_SYS_ADMIN, CAP_NET_ADMIN). It must not touch anything outside its own
// namespaces: no host link, route, address or sysctl.
package lab
