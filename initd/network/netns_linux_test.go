package network

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// netnsChildEnv names the test a re-executed test binary runs inside its own namespaces.
const netnsChildEnv = "KILN_NETWORK_NETNS_CHILD"

// inNetns runs body in a child test process that lives in fresh network and UTS
// namespaces: every thread of the child is inside them, so goroutines and raw sockets
// (nclient4) cannot escape to the host's network, and the host's links, routes and
// hostname stay untouched.
func inNetns(t *testing.T, body func(t *testing.T)) {
	if os.Getenv(netnsChildEnv) == t.Name() {
		body(t)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) for a network namespace")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), netnsChildEnv+"="+t.Name())
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
