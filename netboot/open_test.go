package netboot

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/ukitest"
)

// goodOptions serve a signed test UKI on lo (127.0.0.1/8) with a valid range.
func goodOptions(t *testing.T) Options {
	t.Helper()
	db := filepath.Join(testKeys, "db.crt")
	return Options{
		Interface: "lo", Out: fakeOut(t, signedUKI(t), db), DB: db,
		Range: "127.0.0.10-127.0.0.20", HTTPPort: 80, TFTPPort: 69,
	}
}

// openFails opens o and checks that the error names flag and says want.
func openFails(t *testing.T, o Options, flag, want string) {
	t.Helper()
	s, err := Open(o)
	if err == nil {
		s.Close()
		t.Fatalf("Open accepted bad input; want an error naming %s", flag)
	}
	var fe *FlagError
	if !errors.As(err, &fe) || fe.Flag != flag || !strings.HasPrefix(err.Error(), flag+": ") {
		t.Fatalf("error %q does not name %s", err, flag)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}

func TestOpenNamesTheFlag(t *testing.T) {
	unsigned, err := os.ReadFile(filepath.Join("..", "uki", "pe", "testdata", "tiny-uki.efi"))
	if err != nil {
		t.Fatal(err)
	}
	db, other := filepath.Join(testKeys, "db.crt"), filepath.Join(testKeys, "other.crt")
	tests := []struct {
		name       string
		edit       func(o *Options)
		flag, want string
	}{
		{"neither --proxy nor --range", func(o *Options) { o.Range = "" }, "--proxy", "required"},
		{"both --proxy and --range", func(o *Options) { o.Proxy = true }, "--proxy", "exclude each other"},
		{"no interface", func(o *Options) { o.Interface = "" }, "--interface", "required"},
		{"missing interface", func(o *Options) { o.Interface = "kilnnosuch0" }, "--interface", "kilnnosuch0"},
		{"range without a dash", func(o *Options) { o.Range = "127.0.0.10" }, "--range", "FROM-TO"},
		{"range not addresses", func(o *Options) { o.Range = "a-b" }, "--range", "not an IPv4 address"},
		{"range outside the subnet", func(o *Options) { o.Range = "10.0.0.1-10.0.0.9" }, "--range", "not a host address of 127.0.0.0/8"},
		{"range ends with broadcast", func(o *Options) { o.Range = "127.0.0.10-127.255.255.255" }, "--range", "not a host address"},
		{"range reversed", func(o *Options) { o.Range = "127.0.0.20-127.0.0.10" }, "--range", "comes after"},
		{"range holds the server", func(o *Options) { o.Range = "127.0.0.1-127.0.0.9" }, "--range", "server's own address 127.0.0.1"},
		{"bad MAC", func(o *Options) { o.AllowMAC = "52:54:00:00:00:01,nope" }, "--allow-mac", `"nope"`},
		{"MAC of 8 bytes", func(o *Options) { o.AllowMAC = "52:54:00:00:00:01:02:03" }, "--allow-mac", "Ethernet"},
		{"http port 0", func(o *Options) { o.HTTPPort = 0 }, "--http-port", "not a port"},
		{"tftp port too big", func(o *Options) { o.TFTPPort = 70000 }, "--tftp-port", "not a port"},
		{"no manifest", func(o *Options) { o.Out = t.TempDir() }, "--out", "manifest"},
		{"UKI missing", func(o *Options) { os.Remove(filepath.Join(o.Out, "kiln-1.0+3.efi")) }, "--out", "kiln-1.0+3.efi"},
		{"UKI changed", func(o *Options) {
			os.WriteFile(filepath.Join(o.Out, "kiln-1.0+3.efi"), ukitest.Kiln("1.1").Build(t), 0o644)
		}, "--out", "changed after the build"},
		{"UKI unsigned", func(o *Options) { o.Out = fakeOut(t, unsigned, db) }, "--out", "not signed"},
		{"UKI signed by another key", func(o *Options) {
			foreign := ukitest.Kiln("1.0")
			foreign.Key = "other"
			o.Out = fakeOut(t, foreign.Build(t), db)
		}, "--out", "not by the build's db certificate"},
		{"UKI not signed by --db", func(o *Options) { o.DB = other }, "--db", "does not verify"},
		{"--db missing", func(o *Options) { o.DB = filepath.Join(t.TempDir(), "db.crt") }, "--db", "no such file"},
		{"--db not a certificate", func(o *Options) { o.DB = filepath.Join(testKeys, "README.md") }, "--db", "no PEM CERTIFICATE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := goodOptions(t)
			tt.edit(&o)
			openFails(t, o, tt.flag, tt.want)
		})
	}
}

// A port another program holds is an error naming its flag, before any DHCP socket.
func TestOpenPortInUse(t *testing.T) {
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	tcp, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	o := goodOptions(t)
	o.TFTPPort = udp.LocalAddr().(*net.UDPAddr).Port
	openFails(t, o, "--tftp-port", "address already in use")

	free, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.TFTPPort = free.LocalAddr().(*net.UDPAddr).Port
	free.Close()
	o.HTTPPort = tcp.Addr().(*net.TCPAddr).Port
	openFails(t, o, "--http-port", "address already in use")
	// The TFTP socket opened before the HTTP one failed is closed again.
	again, err := net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(o.TFTPPort))
	if err != nil {
		t.Errorf("TFTP port still held after the failed Open: %v", err)
	} else {
		again.Close()
	}
}
