package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/kernel/kspp"
)

func TestValidateRules(t *testing.T) {
	other, err := GenerateSecrets(testNow)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func(c *Config)
		path   string // the path the error must name
	}{
		{"version", func(c *Config) { c.Version = "v1" }, "version: must be v1alpha1"},
		{"machine type", func(c *Config) { c.Machine.Type = "master" }, "machine.type: must be controlplane or worker"},
		{"token format", func(c *Config) { c.Machine.Token = "ABCDEF.0123456789abcdef" }, "machine.token:"},
		{"token missing", func(c *Config) { c.Machine.Token = "" }, "machine.token:"},
		{"crt not PEM", func(c *Config) { c.Machine.CA.Crt = "hello" }, "machine.ca.crt: no PEM block"},
		{"crt is a key", func(c *Config) { c.Machine.CA.Crt = c.Machine.CA.Key }, `machine.ca.crt: PEM block is "EC PRIVATE KEY"`},
		{"crt missing", func(c *Config) { c.Cluster.CA.Crt = "" }, "cluster.ca.crt: is empty"},
		{"two certs", func(c *Config) { c.Machine.CA.Crt += c.Cluster.CA.Crt }, "machine.ca.crt: holds more than one PEM block"},
		{"key not PEM", func(c *Config) { c.Cluster.CA.Key = "x" }, "cluster.ca.key: no PEM block"},
		{"key mismatch", func(c *Config) { c.Machine.CA.Key = other.OSCA.Key }, "machine.ca.key: does not match"},
		{"controlplane without key", func(c *Config) { c.Cluster.CA.Key = "" }, "cluster.ca.key: a controlplane needs the CA key"},
		{"worker with key", func(c *Config) { c.Machine.Type = TypeWorker }, "machine.ca.key: a worker must not carry CA keys"},
		{"accepted CA not PEM", func(c *Config) { c.Machine.AcceptedCAs = []AcceptedCA{{Crt: c.Cluster.CA.Crt}, {Crt: "hello"}} }, "machine.acceptedCAs[1].crt: no PEM block"},
		{"accepted CA is a key", func(c *Config) { c.Machine.AcceptedCAs = []AcceptedCA{{Crt: c.Machine.CA.Key}} }, `machine.acceptedCAs[0].crt: PEM block is "EC PRIVATE KEY"`},
		{"accepted CA bundle", func(c *Config) { c.Machine.AcceptedCAs = []AcceptedCA{{Crt: c.Machine.CA.Crt + c.Cluster.CA.Crt}} }, "machine.acceptedCAs[0].crt: holds more than one PEM block"},
		{"accepted CA leaf", func(c *Config) { c.Machine.AcceptedCAs = []AcceptedCA{{Crt: leafPEM(t, c)}} }, "machine.acceptedCAs[0].crt: certificate \"leaf\" is not a CA"},
		{"cert SAN", func(c *Config) { c.Machine.CertSANs = []string{"a b"} }, "machine.certSANs[0]:"},
		{"hostname", func(c *Config) { c.Machine.Network.Hostname = "-node" }, "machine.network.hostname:"},
		{"hostname too long", func(c *Config) { c.Machine.Network.Hostname = strings.Repeat("a.", 33) + "a" }, "machine.network.hostname:"},
		{"interface name empty", func(c *Config) { c.Machine.Network.Interfaces[0].Name = "" }, "machine.network.interfaces[0].interface: is empty"},
		{"interface name long", func(c *Config) { c.Machine.Network.Interfaces[0].Name = "enp0s31f6abcdefg" }, "interfaces[0].interface: \"enp0s31f6abcdefg\" is longer than 15"},
		{"interface name slash", func(c *Config) { c.Machine.Network.Interfaces[0].Name = "eth/0" }, "interfaces[0].interface:"},
		{"interface twice", func(c *Config) {
			c.Machine.Network.Interfaces = append(c.Machine.Network.Interfaces, Interface{Name: "eth0"})
		}, "interfaces[1].interface: interface \"eth0\" is listed twice"},
		{"address CIDR", func(c *Config) { c.Machine.Network.Interfaces[0].Addresses = []string{"192.168.1.10"} }, "interfaces[0].addresses[0]:"},
		{"route network", func(c *Config) { c.Machine.Network.Interfaces[0].Routes[0].Network = "default" }, "routes[0].network:"},
		{"route host bits", func(c *Config) { c.Machine.Network.Interfaces[0].Routes[0].Network = "10.1.2.3/8" }, "routes[0].network: \"10.1.2.3/8\" has host bits set: use 10.0.0.0/8"},
		{"gateway", func(c *Config) { c.Machine.Network.Interfaces[0].Routes[0].Gateway = "router" }, "routes[0].gateway: \"router\" is not an IP address"},
		{"gateway family", func(c *Config) { c.Machine.Network.Interfaces[0].Routes[0].Gateway = "fe80::1" }, "routes[0].gateway: fe80::1 and network"},
		{"mtu low", func(c *Config) { c.Machine.Network.Interfaces[0].MTU = 67 }, "interfaces[0].mtu: must be 68..65535"},
		{"mtu high", func(c *Config) { c.Machine.Network.Interfaces[0].MTU = 65536 }, "interfaces[0].mtu:"},
		{"nameserver", func(c *Config) { c.Machine.Network.Nameservers = []string{"dns.example"} }, "machine.network.nameservers[0]:"},
		{"time server", func(c *Config) { c.Machine.Time.Servers = []string{"ntp server"} }, "machine.time.servers[0]:"},
		{"sysctl name", func(c *Config) { c.Machine.Sysctls = map[string]string{"Net.IPv4": "1"} }, `machine.sysctls["Net.IPv4"]: sysctl name not in canonical form: "Net.IPv4"; write "net.ipv4"`},
		{"sysctl dotdot", func(c *Config) { c.Machine.Sysctls = map[string]string{"../x": "1"} }, `machine.sysctls["../x"]: sysctl name not in canonical form: "../x" has none`},
		{"sysctl slashes", func(c *Config) { c.Machine.Sysctls = map[string]string{"kernel/kptr_restrict": "2"} }, `machine.sysctls["kernel/kptr_restrict"]: sysctl name not in canonical form: "kernel/kptr_restrict"; write "kernel.kptr_restrict"`},
		{"sysctl trailing dot", func(c *Config) { c.Machine.Sysctls = map[string]string{"vm.swappiness.": "1"} }, `write "vm.swappiness"`},
		{"sysctl value", func(c *Config) { c.Machine.Sysctls = map[string]string{"vm.swappiness": ""} }, `machine.sysctls["vm.swappiness"]: value is empty`},
		{"install disk relative", func(c *Config) { c.Machine.Install.Disk = "vda" }, "machine.install.disk:"},
		{"install disk escapes", func(c *Config) { c.Machine.Install.Disk = "/dev/../etc/passwd" }, "machine.install.disk:"},
		{"install disk and selector", func(c *Config) { c.Machine.Install.DiskSelector.Model = "QEMU*" }, "machine.install.diskSelector: give disk or diskSelector, not both"},
		{"install without disk", func(c *Config) { c.Machine.Install = Install{Wipe: true} }, "machine.install.disk: an install section needs disk or diskSelector"},
		{"selector size", func(c *Config) { c.Machine.Install = Install{DiskSelector: DiskSelector{Size: ">= 10 parsecs"}} }, "machine.install.diskSelector.size:"},
		{"selector glob", func(c *Config) { c.Machine.Install = Install{DiskSelector: DiskSelector{Model: "[QEMU"}} }, "machine.install.diskSelector.model: is not a valid glob"},
		{"selector type", func(c *Config) { c.Machine.Install = Install{DiskSelector: DiskSelector{Type: "floppy"}} }, "machine.install.diskSelector.type: must be ssd, hdd, nvme or sd"},
		{"image http", func(c *Config) {
			c.Machine.Install.Image, c.Machine.Install.ImageSHA256 = "http://x/k.efi", strings.Repeat("a", 64)
		}, "machine.install.image: must be an https URL"},
		{"image OCI", func(c *Config) {
			c.Machine.Install.Image, c.Machine.Install.ImageSHA256 = "ghcr.io/siderolabs/installer:v1.9", strings.Repeat("a", 64)
		}, "machine.install.image:"},
		{"image without sha", func(c *Config) { c.Machine.Install.Image = "https://x/k.efi" }, "machine.install.imageSha256: must be the image's SHA-256"},
		{"image sha short", func(c *Config) { c.Machine.Install.Image, c.Machine.Install.ImageSHA256 = "https://x/k.efi", "abcd" }, "machine.install.imageSha256:"},
		{"sha without image", func(c *Config) { c.Machine.Install.ImageSHA256 = strings.Repeat("a", 64) }, "machine.install.imageSha256: is only meaningful with image"},
		{"cluster name", func(c *Config) { c.Cluster.Name = "Kiln_1" }, "cluster.clusterName:"},
		{"endpoint scheme", func(c *Config) { c.Cluster.ControlPlane.Endpoint = "http://10.0.2.15:6443" }, `cluster.controlPlane.endpoint: must be https://host:port, got scheme "http"`},
		{"endpoint port", func(c *Config) { c.Cluster.ControlPlane.Endpoint = "https://10.0.2.15" }, "cluster.controlPlane.endpoint:"},
		{"endpoint port range", func(c *Config) { c.Cluster.ControlPlane.Endpoint = "https://a:70000" }, "cluster.controlPlane.endpoint: port"},
		{"endpoint path", func(c *Config) { c.Cluster.ControlPlane.Endpoint = "https://a:6443/api" }, "cluster.controlPlane.endpoint:"},
		{"endpoint missing", func(c *Config) { c.Cluster.ControlPlane.Endpoint = "" }, "cluster.controlPlane.endpoint:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fullConfig(t)
			tc.change(c)
			err := c.Validate()
			wantErrorContaining(t, err, tc.path)
			var errs FieldErrors
			if !errors.As(err, &errs) {
				t.Errorf("%T is not FieldErrors", err)
			}
		})
	}
}

func TestValidateReportsAllProblems(t *testing.T) {
	c := fullConfig(t)
	c.Version = ""
	c.Machine.Network.Interfaces[0].MTU = 1
	c.Cluster.ControlPlane.Endpoint = "x"
	var errs FieldErrors
	if !errors.As(c.Validate(), &errs) || len(errs) != 3 {
		t.Fatalf("got %v, want 3 errors", errs)
	}
}

func TestValidateAcceptsMinimalWorker(t *testing.T) {
	_, worker, err := Generate(GenerateInput{Secrets: secretsForTest(t), Endpoint: "https://cp.example:6443"})
	if err != nil {
		t.Fatal(err)
	}
	worker.Machine.Network.Interfaces = []Interface{{Name: "eth0", Routes: []Route{{Network: "::/0", Gateway: "fe80::1"}}}}
	if err := worker.Validate(); err != nil {
		t.Fatal(err)
	}
}

// The schema's pattern for machine.sysctls is the KSPP package's canonical form: one
// spelling for the schema, the validation, the guard and the writer.
func TestSysctlSchemaPatternIsCanonicalForm(t *testing.T) {
	f, _ := reflect.TypeFor[Machine]().FieldByName("Sysctls")
	if got := f.Tag.Get("pattern"); got != kspp.SysctlNamePattern {
		t.Errorf("machine.sysctls pattern %q, kspp.SysctlNamePattern %q", got, kspp.SysctlNamePattern)
	}
}

// leafPEM is a server certificate from c's OS CA: not a CA, so not an accepted CA.
func leafPEM(t *testing.T, c *Config) string {
	t.Helper()
	crt, _, err := IssueServerCert(c.Machine.CA, "leaf", []string{"10.0.0.1"}, time.Hour, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return string(crt)
}

// An accepted CA that is valid passes; the validation above is about the entry.
func TestValidateAcceptsAcceptedCAs(t *testing.T) {
	c := fullConfig(t)
	c.Machine.AcceptedCAs = []AcceptedCA{{Crt: secretsForTest(t).OSCA.Crt}, {Crt: c.Cluster.CA.Crt}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}
