package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/qemu"
	"github.com/kiln-os/kiln/qemu/lab"
)

// TestConfigURL is the kiln.config= source on a lab network (issue 17, item 9): the node
// leases an address from the lab's DHCP server (dnsmasq), fetches its config over plain
// http pinned by the SHA-256 in the URL's fragment (the command line is signed, so the
// pin is), and boots ready with it; a server that hands out another body is refused by
// the pin, naming it, and the boot stops there.
func TestConfigURL(t *testing.T) {
	img := requireImage(t)
	l := lab.ForTest(t)
	work := t.TempDir()
	startDnsmasq(t, l, work, lab.HostAddr().String(), labAddr(t, 150), labAddr(t, 160))
	good, err := os.ReadFile(writeConfigForURL(t, work))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(good)
	pin := hex.EncodeToString(sum[:])
	tampered := append(append([]byte(nil), good...), "# one more line: another body, still a valid config\n"...)
	mux := http.NewServeMux()
	mux.HandleFunc("/node.yaml", func(w http.ResponseWriter, r *http.Request) { w.Write(good) })
	mux.HandleFunc("/tampered.yaml", func(w http.ResponseWriter, r *http.Request) { w.Write(tampered) })
	ln, err := l.Listen("tcp", lab.HostAddr().String()+":8080")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	base := "http://" + lab.HostAddr().String() + ":8080/"

	ctx, cancel := context.WithTimeout(context.Background(), 2*bootTimeout)
	defer cancel()
	boot := func(name, file string) *qemu.VM {
		tap := addTap(t, l, name)
		return start(t, ctx, img, "configurl-"+name, img.cmdline+" kiln.config="+base+file+"#sha256="+pin,
			qemu.WithLabNIC(tap.Netns, tap.Name, tap.MAC))
	}
	vmGood, vmBad := boot("good", "node.yaml"), boot("bad", "tampered.yaml")

	if _, err := waitFor(ctx, vmGood, bootTimeout, readyOrFailed()); err != nil {
		t.Fatalf("pinned config: %v (serial %s)", err, vmGood.LogPath())
	}
	if e := findState(vmGood.Events(), events.TypeBoot, "machined", events.StateFailed); e != nil {
		t.Fatalf("pinned config: boot failed: %s", e.Error)
	}
	if c := findEvent(vmGood.Events(), events.TypeInfo, "config"); c == nil || c.Fields["source"] != "url" {
		t.Errorf("config event %+v, want source url", c)
	}
	failed, err := waitFor(ctx, vmBad, bootTimeout, readyOrFailed())
	if err != nil {
		t.Fatalf("tampered config: %v (serial %s)", err, vmBad.LogPath())
	}
	if failed.State != events.StateFailed || !strings.Contains(failed.Error, "does not match the URL's sha256 pin") {
		t.Errorf("tampered config: %+v, want the boot refused by the pin", failed)
	}
}

// writeConfigForURL writes a generated controlplane config of cluster e2e (the node
// keeps the default network: DHCP).
func writeConfigForURL(t *testing.T, work string) string {
	t.Helper()
	secrets, err := config.GenerateSecrets(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cp, _, err := config.Generate(config.GenerateInput{Secrets: secrets, ClusterName: "e2e", Endpoint: "https://" + labAddr(t, 150) + ":6443"})
	if err != nil {
		t.Fatal(err)
	}
	return saveConfig(t, work, "node.yaml", cp)
}
