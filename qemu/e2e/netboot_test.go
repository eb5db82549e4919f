package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/pipeline"
	"github.com/kiln-os/kiln/qemu"
	"github.com/kiln-os/kiln/qemu/lab"
)

// OVMF's runtime switches (OvmfPkg/RUNTIME_CONFIG.md): each network boot test turns off
// the protocols it does not test, so that OVMF does not spend minutes on them first.
var (
	onlyPXEv4  = []string{"-fw_cfg", "name=opt/org.tianocore/IPv6Support,string=no"}
	onlyHTTPv4 = []string{"-fw_cfg", "name=opt/org.tianocore/IPv6Support,string=no", "-fw_cfg", "name=opt/org.tianocore/IPv4PXESupport,string=no"}
)

// TestNetboot is issue 14's network boot on a lab network: `kiln pxe serve` in the lab's
// namespace, a VM whose firmware has Kiln's keys netboots the signed UKI under Secure
// Boot over PXE/TFTP and over UEFI HTTP Boot and waits in maintenance mode, knowing it
// booted from the network; the firmware refuses a UKI signed by another key; and
// ProxyDHCP works beside dnsmasq, which hands out the address.
func TestNetboot(t *testing.T) {
	img := requireUEFI(t)
	l := lab.ForTest(t)
	work := t.TempDir()
	kiln := buildKiln(t, work)
	enrolled := enrolledVars(t, img)

	dhcpRange := labAddr(t, 100) + "-" + labAddr(t, 120)
	t.Run("PXE", func(t *testing.T) {
		tap := addTap(t, l, "pxe")
		srv := startPXE(t, l, kiln, img, img.out, "pxe", "--range", dhcpRange, "--allow-mac", tap.MAC)
		netbootToMaintenance(t, img, work, enrolled, "netboot-pxe", tap, onlyPXEv4, srv, "tftp sent")
	})
	t.Run("HTTPBoot", func(t *testing.T) {
		tap := addTap(t, l, "http")
		srv := startPXE(t, l, kiln, img, img.out, "http", "--range", dhcpRange, "--allow-mac", tap.MAC)
		netbootToMaintenance(t, img, work, enrolled, "netboot-http", tap, onlyHTTPv4, srv, "http sent")
	})
	t.Run("ProxyDHCPBesideDnsmasq", func(t *testing.T) {
		tap := addTap(t, l, "proxy")
		// dnsmasq and the ProxyDHCP both listen on port 67: each gets an address of its own.
		dnsmasqAddr := labAddr(t, 2)
		if err := l.AddHostAddr(context.Background(), netip.MustParseAddr(dnsmasqAddr)); err != nil {
			t.Fatal(err)
		}
		startDnsmasq(t, l, work, dnsmasqAddr, labAddr(t, 130), labAddr(t, 140))
		srv := startPXE(t, l, kiln, img, img.out, "proxy", "--proxy", "--allow-mac", tap.MAC)
		netbootToMaintenance(t, img, work, enrolled, "netboot-proxy", tap, onlyPXEv4, srv, "tftp sent")
		log := srv.log()
		if !strings.Contains(log, "port=4011") {
			t.Errorf("ProxyDHCP did not answer the boot server request on port 4011:\n%s", log)
		}
		for _, line := range strings.Split(log, "\n") {
			if strings.HasPrefix(line, "pxe: dhcp offer") && !strings.Contains(line, "ip=-") {
				t.Errorf("ProxyDHCP offered an address: %s", line)
			}
		}
	})
	t.Run("RefusesForeignSignature", func(t *testing.T) {
		out, db := foreignOut(t, img, work)
		tap := addTap(t, l, "foreign")
		srv := startPXE(t, l, kiln, img, out, "foreign", "--range", dhcpRange, "--allow-mac", tap.MAC, "--db", db)
		vars := filepath.Join(work, "foreign.vars.fd")
		copyFile(t, enrolled, vars)
		vm := startUEFIBare(t, img, "netboot-foreign", qemu.WithUEFIVars(ovmfCode, vars),
			qemu.WithLabNIC(tap.Netns, tap.Name, tap.MAC), qemu.WithNetBootFirst(), qemu.WithExtraArgs(onlyPXEv4...))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		// Nothing of ours runs: the firmware's message is the signal, and no event comes.
		if err := vm.WaitSerial(ctx, "Access Denied"); err != nil {
			t.Fatalf("no refusal from the firmware: %v (serial %s)\n%s", err, vm.LogPath(), srv.log())
		}
		if !strings.Contains(srv.log(), "tftp sent") {
			t.Errorf("the firmware refused before it fetched the UKI:\n%s", srv.log())
		}
		if evs := vm.Events(); len(evs) > 0 {
			t.Errorf("machined ran from a UKI signed by another key: %v", evs)
		}
		vm.Kill()
	})
}

// netbootToMaintenance boots a VM with enrolled firmware from the lab's boot server and
// checks that it ran under Secure Boot, knows it was netbooted, and waits for a config.
// It records the time from power-on to maintenance mode.
func netbootToMaintenance(t *testing.T, img image, work, enrolled, name string, tap lab.Tap, fwArgs []string, srv *pxeServer, fetched string) *qemu.VM {
	t.Helper()
	vars := filepath.Join(work, name+".vars.fd")
	copyFile(t, enrolled, vars)
	started := time.Now()
	vm := startUEFIBare(t, img, name, qemu.WithUEFIVars(ovmfCode, vars),
		qemu.WithLabNIC(tap.Netns, tap.Name, tap.MAC), qemu.WithNetBootFirst(), qemu.WithExtraArgs(fwArgs...))
	ctx, cancel := context.WithTimeout(context.Background(), uefiTimeout)
	defer cancel()
	m, err := vm.WaitEvent(ctx, qemu.Any(qemu.Match(events.TypeInfo, "maintenance", events.StateWaiting), qemu.Failed))
	if err != nil || m.State != events.StateWaiting {
		t.Fatalf("no maintenance mode: %v %+v (serial %s)\nserver:\n%s", err, m, vm.LogPath(), srv.log())
	}
	took := time.Since(started)
	medium := findEvent(vm.Events(), events.TypeInfo, "boot-medium")
	if medium == nil || medium.State != "network" {
		t.Errorf("boot-medium event %+v, want network", medium)
	}
	if sb := findEvent(vm.Events(), events.TypeInfo, "secureboot"); sb == nil || sb.State != "enabled" {
		t.Errorf("secure boot inside the netbooted VM: %+v", sb)
	}
	if st := findEvent(vm.Events(), events.TypeInfo, "state"); st == nil || st.State != "diskless" {
		t.Errorf("state event %+v, want diskless (a netbooted node runs from RAM)", st)
	}
	log := srv.log()
	for _, want := range []string{"dhcp offer mac=" + tap.MAC, fetched + " ", "file=kiln.efi"} {
		if !strings.Contains(log, want) {
			t.Errorf("server log lacks %q:\n%s", want, log)
		}
	}
	t.Logf("%s: power-on to maintenance mode in %s", name, took.Round(time.Millisecond))
	data, _ := json.MarshalIndent(map[string]float64{"powerOnToMaintenanceSeconds": took.Seconds()}, "", "  ")
	os.WriteFile(filepath.Join(img.out, "qemu-logs", name+"-timing.json"), data, 0o644)
	return vm
}

// startUEFIBare starts a UEFI VM without a machine config (startUEFI adds one).
func startUEFIBare(t *testing.T, img image, name string, opts ...qemu.Option) *qemu.VM {
	t.Helper()
	all := append([]qemu.Option{
		qemu.WithName(name),
		qemu.WithLogDir(filepath.Join(img.out, "qemu-logs")),
		qemu.WithEvents(),
		qemu.WithMemory(1024),
		qemu.WithLogf(t.Logf),
		// systemd-boot skips its 15 s enrolment countdown when the CPU says it is a
		// hypervisor; TCG's "max" CPU does not, "qemu64" does.
		qemu.WithExtraArgs("-device", "i6300esb", "-cpu", "qemu64"),
	}, opts...)
	vm, err := qemu.Start(context.Background(), all...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vm.Kill)
	return vm
}

func addTap(t *testing.T, l *lab.Lab, name string) lab.Tap {
	t.Helper()
	tap, err := l.AddTap(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return tap
}

// enrolment is shared by the tests of one run: its files live in a folder of their own,
// removed by TestMain, since a test's TempDir goes with that test.
var enrolment struct {
	once sync.Once
	dir  string
	vars string
	err  error
}

// enrolledVars returns OVMF variables with Kiln's keys enrolled and Secure Boot on: a
// network boot never runs systemd-boot, so nothing would enrol them on the way. They come
// from one boot of disk.raw in setup mode, stopped as soon as machined speaks after the
// enrolment reset (the keys are in the vars file by then).
func enrolledVars(t *testing.T, img image) string {
	t.Helper()
	enrolment.once.Do(func() {
		if enrolment.dir, enrolment.err = os.MkdirTemp("", "kiln-e2e-enrol-"); enrolment.err != nil {
			return
		}
		disk := filepath.Join(enrolment.dir, "enrol.raw")
		copySparse(t, artifact(t, img, "disk"), disk)
		vm := startUEFI(t, img, "netboot-enrol", qemu.WithUEFI(ovmfCode, ovmfSetupVars), qemu.WithDisk(disk))
		ctx, cancel := context.WithTimeout(context.Background(), uefiTimeout)
		defer cancel()
		sb, err := vm.WaitEvent(ctx, qemu.Match(events.TypeInfo, "secureboot", ""))
		if err != nil {
			enrolment.err = fmt.Errorf("enrolment boot: %w (serial %s)", err, vm.LogPath())
			return
		}
		if sb.State != "enabled" {
			enrolment.err = fmt.Errorf("after enrolment Secure Boot is %+v", sb)
			return
		}
		vm.Kill()
		os.Remove(disk)
		enrolment.vars = filepath.Join(enrolment.dir, "enrolled.vars.fd")
		copyFile(t, vm.VarsPath(), enrolment.vars)
	})
	if enrolment.err != nil {
		t.Fatal(enrolment.err)
	}
	return enrolment.vars
}

// pxeServer is `kiln pxe serve` running in the lab.
type pxeServer struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	buf strings.Builder
}

func (s *pxeServer) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// startPXE runs `kiln pxe serve` on the lab's bridge and waits for its ready line. It is
// stopped with SIGINT at the test's end, and must then exit cleanly.
func startPXE(t *testing.T, l *lab.Lab, kiln string, img image, out, name string, mode ...string) *pxeServer {
	t.Helper()
	args := append([]string{"pxe", "serve", "--interface", l.Bridge(), "--out", out, "--http-port", "80", "--tftp-port", "69"}, mode...)
	ctx, cancel := context.WithCancel(context.Background())
	s := &pxeServer{cmd: l.Command(ctx, kiln, args...)}
	s.cmd.Dir = filepath.Dir(img.out) // the repository: _keys/db.crt is the default --db
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			s.mu.Lock()
			s.buf.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			if strings.HasPrefix(sc.Text(), "pxe: serving ") {
				once.Do(func() { close(ready) })
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	t.Cleanup(func() {
		s.cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- s.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("kiln pxe serve (%s) did not stop cleanly on SIGINT: %v", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("kiln pxe serve (%s) still running 10 s after SIGINT", name)
		}
		cancel()
		os.WriteFile(filepath.Join(img.out, "qemu-logs", "pxe-"+name+".log"), []byte(s.log()), 0o644)
	})
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("kiln pxe serve not ready in 30 s:\n%s", s.log())
	}
	return s
}

// startDnsmasq runs Debian's dnsmasq in the lab as its ordinary DHCP server (no DNS, no
// boot file): the network ProxyDHCP is for.
func startDnsmasq(t *testing.T, l *lab.Lab, work, addr, from, to string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := l.Command(ctx, "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--bind-interfaces",
		"--listen-address="+addr, "--interface="+l.Bridge(), "--dhcp-range="+from+","+to+",255.255.255.0,1h",
		"--dhcp-leasefile="+filepath.Join(work, "dnsmasq.leases"), "--pid-file="+filepath.Join(work, "dnsmasq.pid"), "--log-dhcp")
	var log strings.Builder
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("dnsmasq (install dnsmasq-base: make deps): %v", err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		t.Logf("dnsmasq:\n%s", truncate(log.String(), 3000))
	})
}

// foreignOut is an output directory whose UKI is Kiln's, re-signed with a key the
// firmware does not know, with a manifest that names it, and the foreign certificate
// for --db: the boot server serves it, and the firmware must refuse it.
func foreignOut(t *testing.T, img image, work string) (out, db string) {
	t.Helper()
	out = filepath.Join(work, "foreign-out")
	os.MkdirAll(out, 0o755)
	uki, cert := resignWithCert(t, readArtifact(t, img, "uki"))
	name := "kiln-foreign.efi"
	if err := os.WriteFile(filepath.Join(out, name), uki, 0o644); err != nil {
		t.Fatal(err)
	}
	m := *img.manifest
	sum := sha256.Sum256(uki)
	m.Artifacts = map[string]pipeline.Artifact{"uki": {Path: name, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(uki))}}
	info := *m.UKI
	certSum := sha256.Sum256(cert.Raw)
	info.Signer = hex.EncodeToString(certSum[:])
	m.UKI = &info
	data, _ := json.MarshalIndent(&m, "", "  ")
	if err := os.WriteFile(filepath.Join(out, pipeline.ManifestName), data, 0o644); err != nil {
		t.Fatal(err)
	}
	db = filepath.Join(work, "foreign-db.crt")
	os.WriteFile(db, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644)
	return out, db
}

func buildKiln(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "kiln")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/kiln-os/kiln/cmd/kiln").CombinedOutput()
	if err != nil {
		t.Fatalf("build kiln: %v\n%s", err, out)
	}
	return bin
}

// TestNetbootInstall is issue 14's PXE install on a lab network. A VM with an empty disk
// netboots the signed UKI, waits in maintenance mode, takes a config with machine.install
// from kilnctl (pinned fingerprint, inside the lab), fetches the UKI from the boot
// server's HTTP URL, installs, reboots from its disk and reaches ready.
//
//   - KeysEnrolled: the firmware has Kiln's keys (a network boot never runs systemd-boot,
//     so nothing enrols them on the way): the netboot is under Secure Boot, the installer
//     seals STATE and carries the config onto it, and the disk boots ready on it.
//   - SetupMode: the firmware has no keys: the netboot runs with Secure Boot off, the
//     installer cannot seal (so the config is not carried), the disk's first boot enrols
//     the keys, and from then on Secure Boot is on; the node waits in maintenance mode
//     for its config again and then boots ready on a sealed STATE.
func TestNetbootInstall(t *testing.T) {
	img := requireUEFI(t)
	l := lab.ForTest(t)
	work := t.TempDir()
	kiln := buildKiln(t, work)
	kilnctl := buildKilnctl(t, work)

	t.Run("KeysEnrolled", func(t *testing.T) {
		enrolled := enrolledVars(t, img)
		vm, c, m, srv := netbootForInstall(t, img, l, work, kiln, kilnctl, "pxeinst", qemu.WithUEFIVars(ovmfCode, copied(t, work, enrolled, "pxe-install")))
		started := m.started
		done := installOverAPI(t, c, vm, m.event, srv)
		installed := time.Now()
		if done.Fields["config"] != "carried" {
			t.Errorf("install done %+v, want the config carried", done)
		}
		n := len(vm.Events())
		waitReadyAfter(t, m.ctx, vm, n)
		readyAt := time.Now()
		evs := vm.Events()[n:]
		if b := findEvent(evs, events.TypeInfo, "boot-medium"); b == nil || b.State != "disk" {
			t.Errorf("after the install the node booted from %+v, want its disk", b)
		}
		if st := findEvent(evs, events.TypeInfo, "state"); st == nil || st.Fields["mode"] != "sealed" || st.Fields["created"] != "false" {
			t.Errorf("installed STATE %+v, want the sealed STATE the installer created", st)
		}
		if cfg := findEvent(evs, events.TypeInfo, "config"); cfg == nil || cfg.Fields["source"] != "state" {
			t.Errorf("config after the install %+v, want the carried one from STATE", cfg)
		}
		if out := c.must("get", "bootstatus", "-o", "json"); !strings.Contains(out, `"medium": "disk"`) {
			t.Errorf("runtime/BootStatus after the install:\n%s", out)
		}
		// Issue 17: on a node installed as it should be (Secure Boot, sealed STATE, the
		// firmware's event log, PCR 11 as the build predicts) health passes; the lab has
		// no time server, so the config turns time sync off and that check is skipped.
		if out, err := c.run("health", "--manifest", filepath.Join(img.out, "manifest.json")); err != nil || strings.Contains(out, "FAIL") {
			t.Errorf("health on the installed node: %v\n%s", err, out)
		}
		recordTimes(t, img, "netboot-install-timing.json", map[string]float64{
			"powerOnToInstalledSeconds":       installed.Sub(started).Seconds(),
			"installedToReadyFromDiskSeconds": readyAt.Sub(installed).Seconds(),
		})
		powerOff(t, m.ctx, vm)
	})

	t.Run("SetupMode", func(t *testing.T) {
		vm, c, m, srv := netbootForInstall(t, img, l, work, kiln, kilnctl, "pxesetup", qemu.WithUEFI(ovmfCode, ovmfSetupVars))
		if sb := findEvent(vm.Events(), events.TypeInfo, "secureboot"); sb == nil || sb.Fields["SetupMode"] != "1" {
			t.Errorf("the netboot in setup mode reports %+v", sb)
		}
		done := installOverAPI(t, c, vm, m.event, srv)
		if !strings.Contains(done.Fields["config"], "not carried") || !strings.Contains(done.Fields["config"], "Secure Boot") {
			t.Errorf("install done %+v: with Secure Boot off the config cannot be sealed, and the event must say so", done)
		}
		// The disk's first boot: systemd-boot enrols the keys and resets; the next boot runs
		// under Secure Boot and, without a config, waits for one.
		n := len(vm.Events())
		again, err := vm.WaitEvent(m.ctx, after(n, qemu.Any(qemu.Match(events.TypeInfo, "maintenance", events.StateWaiting), qemu.Failed)))
		if err != nil || again.State != events.StateWaiting {
			t.Fatalf("the installed system did not wait for its config: %v %+v (serial %s)", err, again, vm.LogPath())
		}
		evs := vm.Events()[n:]
		if sb := findEvent(evs, events.TypeInfo, "secureboot"); sb == nil || sb.State != "enabled" {
			t.Errorf("after the disk's first boot Secure Boot is %+v, want enabled", sb)
		}
		if b := findEvent(evs, events.TypeInfo, "boot-medium"); b == nil || b.State != "disk" {
			t.Errorf("booted from %+v, want the installed disk", b)
		}
		// STATE was created on this boot, under Secure Boot: sealed.
		if st := findEvent(evs, events.TypeInfo, "state"); st == nil || st.State != "mounted" || st.Fields["mode"] != "sealed" || st.Fields["created"] != "true" {
			t.Errorf("STATE on the first Secure Boot boot: %+v, want created sealed", st)
		}
		n = len(vm.Events())
		c.must("--fingerprint", again.Fields["fingerprint"], "apply-config", "-f", filepath.Join(filepath.Dir(c.config), "controlplane.yaml"))
		waitReadyAfter(t, m.ctx, vm, n)
		powerOff(t, m.ctx, vm)
	})
}

// maintenanceWait is a netbooted VM waiting for its config.
type maintenanceWait struct {
	event   events.Event
	started time.Time
	ctx     context.Context
}

// netbootForInstall starts a boot server for a fresh tap and a VM with an empty disk and
// a TPM that netboots from it, and waits for maintenance mode. It returns the VM, a
// kilnctl for the node's leased address (inside the lab, with gen config's files in
// work) and the boot server.
func netbootForInstall(t *testing.T, img image, l *lab.Lab, work, kiln, kilnctl, name string, firmware qemu.Option) (*qemu.VM, ctl, maintenanceWait, *pxeServer) {
	t.Helper()
	tap := addTap(t, l, name)
	srv := startPXE(t, l, kiln, img, img.out, name, "--range", labAddr(t, 100)+"-"+labAddr(t, 120), "--allow-mac", tap.MAC)
	disk := emptyDisk(t, work, name+".raw")
	m := maintenanceWait{started: time.Now()}
	// The disk boots first and the NIC after it, the provisioning order: the empty disk
	// falls through to the network, and once installed the disk boots, also after the
	// reset of systemd-boot's enrolment (OVMF orders its boot options as QEMU's
	// bootindex says).
	vm := startUEFIBare(t, img, "netboot-"+name, firmware, qemu.WithDisk(disk),
		qemu.WithLabNIC(tap.Netns, tap.Name, tap.MAC), qemu.WithTPM(filepath.Join(work, name+"-tpm")),
		qemu.WithExtraArgs(onlyPXEv4...))
	ctx, cancel := context.WithTimeout(context.Background(), 3*uefiTimeout)
	t.Cleanup(cancel)
	m.ctx = ctx
	var err error
	m.event, err = vm.WaitEvent(ctx, qemu.Any(qemu.Match(events.TypeInfo, "maintenance", events.StateWaiting), qemu.Failed))
	if err != nil || m.event.State != events.StateWaiting {
		t.Fatalf("no maintenance mode: %v %+v (serial %s)\nserver:\n%s", err, m.event, vm.LogPath(), srv.log())
	}
	// The node's address is the one the boot server leased to its MAC.
	node := leasedAddr(t, srv.log(), tap.MAC)
	secrets := filepath.Join(work, name) // gen config's files for this node alone
	if err := os.MkdirAll(secrets, 0o700); err != nil {
		t.Fatal(err)
	}
	c := ctl{t: t, bin: kilnctl, config: filepath.Join(secrets, "kiln-config"), lab: l, node: node + ":50000"}
	c.must("gen", "config", "--kubernetes=false", "--name", "e2e", "--endpoint", "https://"+node+":6443", "--out", secrets)
	return vm, c, m, srv
}

// installOverAPI sends gen config's controlplane.yaml with install --disk /dev/vda to the
// node in maintenance mode and waits for the install to finish.
func installOverAPI(t *testing.T, c ctl, vm *qemu.VM, m events.Event, srv *pxeServer) events.Event {
	t.Helper()
	work := filepath.Dir(c.config)
	// The lab has no time server: time sync off, so that health has nothing to wait for.
	cfg := loadConfig(t, work, "controlplane.yaml")
	cfg.Machine.Time.Disabled = true
	saveConfig(t, work, "controlplane.yaml", cfg)
	out := c.must("--fingerprint", m.Fields["fingerprint"], "install", "--disk", "/dev/vda", "-f", filepath.Join(work, "controlplane.yaml"))
	if !strings.Contains(out, "install_scheduled") {
		t.Errorf("kilnctl install answered:\n%s", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), uefiTimeout)
	defer cancel()
	done, err := vm.WaitEvent(ctx, qemu.Any(qemu.Match(events.TypeInfo, "install", events.StateDone),
		qemu.Match(events.TypeInfo, "install", "refused"), qemu.Failed))
	if err != nil || done.State != events.StateDone {
		t.Fatalf("install: %v %+v (serial %s)\nserver:\n%s", err, done, vm.LogPath(), srv.log())
	}
	node := strings.TrimSuffix(c.node, ":50000")
	if done.Fields["medium"] != "network" || done.Fields["source"] != "http://"+lab.HostAddr().String()+":80/kiln.efi" {
		t.Errorf("install done %+v, want the UKI from the boot server's URL after a network boot", done)
	}
	if !strings.Contains(srv.log(), "http sent ip="+node) {
		t.Errorf("the installer did not fetch the UKI over HTTP:\n%s", srv.log())
	}
	return done
}

// copied is a copy of file in work named name.vars.fd (OVMF variables the VM may change).
func copied(t *testing.T, work, file, name string) string {
	t.Helper()
	dst := filepath.Join(work, name+".vars.fd")
	copyFile(t, file, dst)
	return dst
}

// leasedAddr is the address the boot server's log says it acknowledged for mac.
func leasedAddr(t *testing.T, log, mac string) string {
	t.Helper()
	for _, line := range strings.Split(log, "\n") {
		if strings.HasPrefix(line, "pxe: dhcp ack mac="+mac+" ") && strings.Contains(line, " port=67 ") {
			for _, f := range strings.Fields(line) {
				if ip, ok := strings.CutPrefix(f, "ip="); ok && ip != "-" {
					return ip
				}
			}
		}
	}
	t.Fatalf("no lease for %s in the boot server's log:\n%s", mac, log)
	return ""
}
