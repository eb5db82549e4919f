package netboot

import (
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// FuzzDecide feeds arbitrary DHCP messages to both modes on both ports. Whatever
// arrives, the decision does not panic, a reply never names a router, ProxyDHCP and
// port 4011 never hand out an address, and --range hands out only addresses of its range.
func FuzzDecide(f *testing.F) {
	for _, c := range []client{pxe7, pxe9, http16, bios0, noArch, plainOS} {
		for _, typ := range []dhcpv4.MessageType{dhcpv4.MessageTypeDiscover, dhcpv4.MessageTypeRequest, dhcpv4.MessageTypeInform} {
			m := msg(f, typ, macA, c)
			f.Add(m.ToBytes())
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := dhcpv4.FromBytes(data)
		if err != nil {
			return
		}
		for _, proxy := range []bool{false, true} {
			cfg := &dhcpConfig{proxy: proxy, server: labServer, httpPort: 80}
			l := newLeases(labRange, leaseTime)
			for _, port := range []int{dhcpServerPort, pxeServerPort} {
				d := decide(cfg, l, req, port, t0)
				if d.reply == nil {
					continue
				}
				if d.reply.Options.Has(dhcpv4.OptionRouter) {
					t.Fatalf("reply names a router: %s", d.reply.Summary())
				}
				yiaddr := addrOf(d.reply.YourIPAddr)
				if (proxy || port == pxeServerPort) && yiaddr.IsValid() {
					t.Fatalf("proxy=%v port %d handed out %s", proxy, port, yiaddr)
				}
				if yiaddr.IsValid() && !l.inPool(yiaddr) {
					t.Fatalf("address %s outside the range", yiaddr)
				}
				if _, err := dhcpv4.FromBytes(d.reply.ToBytes()); err != nil {
					t.Fatalf("reply does not parse: %v", err)
				}
			}
		}
	})
}

// FuzzLookup: a name gets a file only if it is the file's exact name.
func FuzzLookup(f *testing.F) {
	for _, s := range []string{"kiln.efi", "../kiln.efi", "/kiln.efi", `a\kiln.efi`, "kiln.efi\x00", ""} {
		f.Add(s)
	}
	files := map[string]*servedFile{BootFile: {name: BootFile}}
	f.Fuzz(func(t *testing.T, name string) {
		file, reason := lookup(files, name)
		if (file != nil) != (name == BootFile) || (file == nil) == (reason == "") {
			t.Fatalf("lookup(%q) = %v, %q", name, file, reason)
		}
	})
}
