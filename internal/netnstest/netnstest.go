// Package netnstest runs a test inside fresh network and UTS namespaces, for the tests
// that drive real links with netlink or serve real sockets: node networking (packages
// network and netctl) and the boot server (netboot).
//
// The room: test scaffolding only. It must not be imported by anything but tests, and
// nothing it does may reach the host: the host's links, routes and hostname stay as they
// are.
package netnstest

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
)

// childEnv names the test a re-executed test binary runs inside its own namespaces.
const childEnv = "KILN_NETWORK_NETNS_CHILD"

// Run runs body in a child test process that lives in fresh network and UTS namespaces:
// every thread of the child is inside them, so goroutines and raw sockets (nclient4)
// cannot escape to the host's network, and the host's links, routes and hostname stay
// untouched. The namespaces, their links and addresses vanish with the child, whether
// the test passes, fails or panics. Without root the test is skipped, except under $CI,
// which runs as root.
func Run(t *testing.T, body func(t *testing.T)) {
	if os.Getenv(childEnv) == t.Name() {
		body(t)
		return
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI runs as root, and this test needs it (a network namespace)")
		}
		t.Skip("needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) for a network namespace")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+t.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET | syscall.CLONE_NEWUTS}
	out, err := cmd.CombinedOutput()
	if errors.Is(err, syscall.EPERM) {
		t.Skipf("no network namespace (clone CLONE_NEWNET): %v", err)
	}
	if err != nil {
		t.Fatalf("in network namespace: %v\n%s", err, out)
	}
	if bytes.Contains(out, []byte("--- SKIP")) {
		t.Skipf("child skipped:\n%s", out)
	}
	t.Logf("child output:\n%s", strings.TrimSpace(string(out)))
}

// AddVeth creates a veth pair, brings the server end up with serverAddr (CIDR) and
// returns the client end's name.
func AddVeth(t *testing.T, client, server, serverAddr string) string {
	t.Helper()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: client}, PeerName: server}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Skipf("no veth links (CONFIG_VETH): %v", err)
	}
	peer, err := netlink.LinkByName(server)
	if err != nil {
		t.Fatal(err)
	}
	ip, ipNet, err := net.ParseCIDR(serverAddr)
	if err != nil {
		t.Fatal(err)
	}
	ipNet.IP = ip
	if err := netlink.AddrAdd(peer, &netlink.Addr{IPNet: ipNet}); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(peer); err != nil {
		t.Fatal(err)
	}
	return client
}
