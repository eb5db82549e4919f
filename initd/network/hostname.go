package network

import (
	"encoding/hex"
	"fmt"
	"net"
	"strings"

	"golang.org/x/sys/unix"
)

// chooseHostname names the node: the Spec's hostname wins, else the first lease (in link
// order) that carries one, else "kiln-" and the last three bytes of mac in hex, so that
// a node without config still gets a stable, distinct name. A fully qualified name is
// split into host and domain; the domain otherwise comes from the first lease with one.
func chooseHostname(spec string, leases []leaseFacts, mac net.HardwareAddr) HostnameStatus {
	name := spec
	for _, l := range leases {
		if name == "" {
			name = l.Hostname
		}
	}
	if name == "" {
		name = fallbackHostname(mac)
	}
	host, domain, _ := strings.Cut(name, ".")
	for _, l := range leases {
		if domain == "" {
			domain = l.Domain
		}
	}
	return HostnameStatus{Hostname: host, Domain: domain}
}

func fallbackHostname(mac net.HardwareAddr) string {
	if len(mac) < 3 {
		return "kiln"
	}
	return "kiln-" + hex.EncodeToString(mac[len(mac)-3:])
}

func setKernelHostname(name string) error {
	if err := unix.Sethostname([]byte(name)); err != nil {
		return fmt.Errorf("sethostname %q: %w", name, err)
	}
	return nil
}
