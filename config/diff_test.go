package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
		want   []Change
	}{
		{"nothing", func(c *Config) {}, nil},
		{"hostname", func(c *Config) { c.Machine.Network.Hostname = "node2" }, []Change{
			{Path: "machine.network.hostname", Old: "node1", New: "node2"},
		}},
		{"hostname removed", func(c *Config) { c.Machine.Network.Hostname = "" }, []Change{
			{Path: "machine.network.hostname", Old: "node1", New: ""},
		}},
		{"address added", func(c *Config) {
			c.Machine.Network.Interfaces[0].Addresses = append(c.Machine.Network.Interfaces[0].Addresses, "10.0.0.2/8")
		}, []Change{
			{Path: "machine.network.interfaces[0].addresses[1]", Old: "", New: "10.0.0.2/8"},
		}},
		{"sysctl changed and added", func(c *Config) {
			c.Machine.Sysctls = map[string]string{"net.ipv4.ip_forward": "0", "kernel.panic": "10"}
		}, []Change{
			{Path: `machine.sysctls["kernel.panic"]`, Old: "", New: `"10"`},
			{Path: `machine.sysctls["net.ipv4.ip_forward"]`, Old: `"1"`, New: `"0"`},
		}},
		{"secret changed", func(c *Config) { c.Machine.Token = "abcdef.0123456789abcdef" }, []Change{
			{Path: "machine.token", Old: redacted, New: redacted},
		}},
		{"accepted CA added", func(c *Config) { c.Machine.AcceptedCAs = []AcceptedCA{{Crt: "X"}} }, []Change{
			{Path: "machine.acceptedCAs[0].crt", Old: "", New: "X"},
		}},
		{"install disk", func(c *Config) { c.Machine.Install = Install{Disk: "/dev/sda", Wipe: true} }, []Change{
			{Path: "machine.install.disk", Old: "/dev/vda", New: "/dev/sda", Reboot: true},
			{Path: "machine.install.wipe", Old: "", New: "true", Reboot: true},
		}},
		{"interface added", func(c *Config) {
			c.Machine.Network.Interfaces = append(c.Machine.Network.Interfaces, Interface{Name: "eth1", Addresses: []string{"10.0.0.2/8"}})
		}, []Change{
			{Path: "machine.network.interfaces[1].interface", Old: "", New: "eth1", Reboot: true},
			{Path: "machine.network.interfaces[1].addresses[0]", Old: "", New: "10.0.0.2/8"},
		}},
		{"route removed", func(c *Config) { c.Machine.Network.Interfaces[0].Routes = nil }, []Change{
			{Path: "machine.network.interfaces[0].routes[0].network", Old: "0.0.0.0/0", New: ""},
			{Path: "machine.network.interfaces[0].routes[0].gateway", Old: "192.168.1.1", New: ""},
			{Path: "machine.network.interfaces[0].routes[0].metric", Old: "1024", New: ""},
		}},
		{"empty element added", func(c *Config) {
			c.Machine.Network.Interfaces[0].Routes = append(c.Machine.Network.Interfaces[0].Routes, Route{})
		}, []Change{
			{Path: "machine.network.interfaces[0].routes[1]", Old: "", New: "{}"},
		}},
		{"resolvers and time servers", func(c *Config) {
			c.Machine.Network.Nameservers = []string{"9.9.9.9"}
			c.Machine.Time.Servers = nil
		}, []Change{
			{Path: "machine.network.nameservers[0]", Old: "1.1.1.1", New: "9.9.9.9"},
			{Path: "machine.time.servers[0]", Old: "pool.ntp.org", New: ""},
		}},
		{"cluster name reads as a string", func(c *Config) { c.Cluster.Name = "true" }, []Change{
			{Path: "cluster.clusterName", Old: "kiln", New: `"true"`, Reboot: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, changed := fullConfig(t), fullConfig(t)
			tt.change(changed)
			if got := Diff(old, changed); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Diff:\n%s\nwant:\n%s", FormatChanges(got), FormatChanges(tt.want))
			}
		})
	}
}

func TestDiffFromNoConfig(t *testing.T) {
	cfg := fullConfig(t)
	changes := Diff(nil, cfg)
	var paths []string
	for _, c := range changes {
		if c.Old != "" || c.New == "" {
			t.Errorf("%v: a first config only adds values", c)
		}
		paths = append(paths, c.Path)
	}
	want := []string{
		"version", "machine.type", "machine.token", "machine.ca.crt", "machine.ca.key",
		"machine.certSANs[0]", "machine.certSANs[1]", "machine.network.hostname",
		"machine.network.interfaces[0].interface", "machine.network.interfaces[0].dhcp",
		"machine.network.interfaces[0].addresses[0]", "machine.network.interfaces[0].routes[0].network",
		"machine.network.interfaces[0].routes[0].gateway", "machine.network.interfaces[0].routes[0].metric",
		"machine.network.interfaces[0].mtu", "machine.network.nameservers[0]", "machine.time.servers[0]",
		`machine.sysctls["net.ipv4.ip_forward"]`, "machine.install.disk", "cluster.clusterName",
		"cluster.controlPlane.endpoint", "cluster.ca.crt", "cluster.ca.key",
	}
	if !reflect.DeepEqual(paths, want) {
		t.Errorf("paths:\n%s\nwant:\n%s", strings.Join(paths, "\n"), strings.Join(want, "\n"))
	}
	if !reflect.DeepEqual(Diff(&Config{}, cfg), changes) {
		t.Error("Diff(nil, c) differs from Diff(&Config{}, c)")
	}
}

func TestDiffNeverShowsASecret(t *testing.T) {
	cfg := fullConfig(t)
	for _, changes := range [][]Change{Diff(nil, cfg), Diff(cfg, nil)} {
		text := FormatChanges(changes)
		for _, secret := range secretMarks(cfg) {
			if strings.Contains(text, secret) {
				t.Errorf("diff shows the secret %q:\n%s", secret, text)
			}
		}
	}
}

// secretMarks are strings found only in c's secrets: the token, and the first base64
// line of each CA key (a PEM header is no secret).
func secretMarks(c *Config) []string {
	marks := []string{c.Machine.Token}
	for _, key := range []string{c.Machine.CA.Key, c.Cluster.CA.Key} {
		marks = append(marks, strings.Split(key, "\n")[1])
	}
	return marks
}

func TestChangeString(t *testing.T) {
	tests := []struct {
		change Change
		want   string
	}{
		{Change{Path: "machine.network.hostname", Old: "a", New: "b"}, "machine.network.hostname: a → b"},
		{Change{Path: "machine.install.disk", New: "/dev/vda", Reboot: true}, "machine.install.disk: (absent) → /dev/vda [reboot]"},
		{Change{Path: "x", Old: `"` + strings.Repeat("A", 70) + `"`}, `x: "` + strings.Repeat("A", 39) + "… (72 bytes, sha256 "},
	}
	for _, tt := range tests {
		if got := tt.change.String(); !strings.HasPrefix(got, tt.want) {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestCertificateChangesReadAsDifferent(t *testing.T) {
	old, changed := fullConfig(t), fullConfig(t)
	changed.Cluster.CA.Crt = changed.Machine.CA.Crt
	changes := Diff(old, changed)
	if len(changes) != 1 || changes[0].Path != "cluster.ca.crt" {
		t.Fatalf("changes %v", changes)
	}
	line := changes[0].String()
	if strings.Count(line, "\n") != 0 {
		t.Errorf("change is not one line: %q", line)
	}
	before, after, _ := strings.Cut(strings.TrimPrefix(line, "cluster.ca.crt: "), " → ")
	if before == strings.TrimSuffix(after, " [reboot]") {
		t.Errorf("two different certificates read the same: %s", line)
	}
}

func TestNeedsReboot(t *testing.T) {
	old, changed := fullConfig(t), fullConfig(t)
	changed.Machine.Network.Hostname = "node2"
	if err := RequireLive(Diff(old, changed)); err != nil {
		t.Errorf("a hostname change refused: %v", err)
	}
	changed.Machine.Install.Disk = "/dev/sda"
	changed.Machine.Type = TypeWorker
	changes := Diff(old, changed)
	if got := NeedsReboot(changes); !reflect.DeepEqual(got, []string{"machine.type", "machine.install.disk"}) {
		t.Errorf("NeedsReboot = %v", got)
	}
	err := RequireLive(changes)
	var rebootErr *NeedsRebootError
	if !errors.Is(err, ErrNeedsReboot) || !errors.As(err, &rebootErr) || len(rebootErr.Paths) != 2 {
		t.Fatalf("RequireLive = %#v, want a NeedsRebootError", err)
	}
	wantErrorContaining(t, err, "machine.type, machine.install.disk", "--mode reboot or auto")
}
