package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/bootloader/entry"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/kernel/kspp"
	"github.com/kiln-os/kiln/pipeline"
	"github.com/kiln-os/kiln/qemu"
)

// upgradeVersion is the second release TestUpgradeAndRollback upgrades to; it must sort
// after the image's own version.
const upgradeVersion = "0.1.1-e2e"

// panicVersion is the release whose kernel panics: newer than the image, so the upgrade
// is accepted and its entry sorts first until systemd-boot has spent its tries.
const panicVersion = "0.1.3-e2e"

// TestUpgradeAndRollback is issue 13 end to end on one machine with UEFI Secure Boot, a
// TPM and a sealed STATE holding a config: bad images are refused over the API with the
// ESP unchanged (checked from the host), `kilnctl upgrade --wait` brings the node back on
// the second release, ready and blessed, with the same STATE and config and the old
// release as standby; a downgrade is refused; `kilnctl rollback --wait` brings it back.
// Three boots: enrolment + the first release, the upgrade, the rollback. Then, on a
// restart of the same machine, an upgrade to a release whose kernel panics falls back to
// the running version by itself (three panicking tries, then the good boot).
func TestUpgradeAndRollback(t *testing.T) {
	img := requireUEFI(t)
	base := img.manifest.Version
	if entry.CompareVersions(upgradeVersion, base) <= 0 {
		t.Fatalf("the image is version %s; the upgrade %s must be newer", base, upgradeVersion)
	}
	work := t.TempDir()
	keys := filepath.Join(img.out, "..", "_keys")
	upgradeUKI := buildVariant(t, img, upgradeVersion, keys)
	otherKeyUKI := buildVariant(t, img, "0.1.2-e2e", otherPCRKey(t, img, work))
	panicUKI := buildPanicking(t, img, panicVersion, keys)

	c := ctl{t: t, bin: buildKilnctl(t, work), config: filepath.Join(work, "kiln-config")}
	hostPort := freePort(t)
	c.node = fmt.Sprintf("127.0.0.1:%d", hostPort)
	c.must("gen", "config", "--kubernetes=false", "--name", "e2e", "--endpoint", "https://10.0.2.15:6443", "--out", work)
	nodeConfig := writeNodeConfig(t, work)
	disk := filepath.Join(work, "upgrade.raw")
	copySparse(t, artifact(t, img, "disk"), disk)
	tpm := filepath.Join(work, "tpm")
	vm := startUpgradeVM(t, img, "upgrade", disk, nodeConfig, tpm, hostPort, qemu.WithUEFI(ovmfCode, ovmfSetupVars))
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute) // boots 1 to 3
	defer cancel()

	// Boot 1: enrolment, then the first release to ready with a sealed STATE.
	waitReadyEvent(t, ctx, vm)
	st := findState(vm.Events(), events.TypeInfo, "state", "mounted")
	if st == nil || st.Fields["mode"] != "sealed" {
		t.Fatalf("STATE on the first boot: %+v, want sealed", st)
	}
	uuid := st.Fields["uuid"]

	t.Run("BadImagesRefusedESPUnchanged", func(t *testing.T) {
		baseUKI := readArtifact(t, img, "uki")
		bad := map[string]struct {
			data  []byte
			check string
		}{
			"foreign-signed":  {resign(t, baseUKI), "signature"},
			"cmdline-flipped": {tamperCmdline(t, baseUKI), "signature"},
			"not-pe":          {[]byte("#!/bin/sh\necho not a UKI\n"), "pe"},
			"other-pcr-key":   {mustRead(t, otherKeyUKI), "pcrpkey"},
		}
		for _, name := range slices.Sorted(maps.Keys(bad)) {
			path := filepath.Join(work, name+".efi")
			if err := os.WriteFile(path, bad[name].data, 0o644); err != nil {
				t.Fatal(err)
			}
			refusedUnchanged(t, c, disk, work, bad[name].check, "upgrade", "--image", path)
		}
	})
	t.Run("BadStreamsRefusedESPUnchanged", func(t *testing.T) {
		upgradeStreamAbuse(t, c, disk, work, readArtifact(t, img, "uki"))
	})

	// Boot 2: the upgrade.
	n := len(vm.Events())
	out := runLong(t, c, 20*time.Minute, "upgrade", "--image", upgradeUKI, "--wait", "--wait-timeout", "15m")
	for _, want := range []string{"installed " + entry.Fresh(upgradeVersion), "firmware-db", "the node is back on " + upgradeVersion, "fell back: no"} {
		if !strings.Contains(out, want) {
			t.Errorf("kilnctl upgrade --wait output lacks %q", want)
		}
	}
	if e := findState(vm.Events()[n:], events.TypeInfo, "upgrade", "installed"); e == nil || e.Fields["version"] != upgradeVersion {
		t.Errorf("no upgrade installed event for %s: %+v", upgradeVersion, e)
	}
	checkBootAfter(t, ctx, vm, n, upgradeVersion, uuid)
	status := bootStatus(t, c)
	if status.Version != upgradeVersion || status.Booted != entry.Prefix+upgradeVersion+entry.Suffix ||
		status.Standby != entry.Prefix+base+entry.Suffix || status.FellBack {
		t.Errorf("BootStatus after the upgrade: %+v, want %s booted and blessed, %s standby", status, upgradeVersion, base)
	}

	t.Run("DowngradeRefused", func(t *testing.T) {
		refusedUnchanged(t, c, disk, work, "version", "upgrade", "--image", artifact(t, img, "uki"))
	})

	// Boot 3: the rollback.
	n = len(vm.Events())
	out = runLong(t, c, 20*time.Minute, "rollback", "--wait", "--wait-timeout", "15m")
	if !strings.Contains(out, "the node is back on "+base) {
		t.Errorf("kilnctl rollback --wait output lacks the node back on %s", base)
	}
	checkBootAfter(t, ctx, vm, n, base, uuid)
	if status := bootStatus(t, c); status.Version != base || status.FellBack {
		t.Errorf("BootStatus after the rollback: %+v", status)
	}
	if _, err := c.run("rollback"); err == nil {
		t.Error("a second rollback, with no previous good UKI left, was accepted")
	}
	powerOff(t, ctx, vm)
	names := espListing(t, disk, "::/EFI/Linux")
	if !slices.Contains(names, entry.Prefix+base+entry.Suffix) || !slices.Contains(names, entry.Prefix+upgradeVersion+"+0"+entry.Suffix) {
		t.Errorf("EFI/Linux after the rollback: %q, want %s blessed and %s marked bad", names, base, upgradeVersion)
	}

	// Boots 4 to 8: a restart (the enrolled vars, no enrolment), three panicking tries of
	// the new release, and the fallback to the running one.
	t.Run("PanickingUpgradeFallsBack", func(t *testing.T) {
		restart := startUpgradeVM(t, img, "upgrade-fallback", disk, nodeConfig, tpm, hostPort, qemu.WithUEFIVars(ovmfCode, vm.VarsPath()))
		panickingUpgradeFallsBack(t, c, restart, disk, panicUKI, base, uuid)
	})
}

// panickingUpgradeFallsBack upgrades a running node (base, STATE uuid) to panicUKI:
// systemd-boot spends the new entry's three tries on kernel panics and boots base again;
// BootStatus and an event say it fell back, and the ESP keeps the spent entry and base.
func panickingUpgradeFallsBack(t *testing.T, c ctl, vm *qemu.VM, disk, panicUKI, base, uuid string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	waitReadyEvent(t, ctx, vm)
	checkReopened(t, vm, uuid)
	n := len(vm.Events())
	serialBefore := len(vm.SerialLog())
	// kilnctl fails on purpose: the node came back, but not on the version it installed.
	out, err := runKilnctl(c, 20*time.Minute, "upgrade", "--image", panicUKI, "--wait", "--wait-timeout", "15m")
	if err == nil || !strings.Contains(out, "the node is back on "+base) || !strings.Contains(out, "fell back: kiln-"+panicVersion) {
		t.Errorf("kilnctl upgrade --wait to the panicking %s: %v, want it back on %s and fell back (serial %s):\n%s",
			panicVersion, err, base, vm.LogPath(), out)
	}
	checkBootAfter(t, ctx, vm, n, base, uuid)
	panics := strings.Count(serialSince(vm, serialBefore), "Kernel panic")
	t.Logf("kernel panics on the console after the upgrade: %d", panics)
	if panics == 0 {
		t.Errorf("no kernel panic on the console after the upgrade: the fallback was not the kernel's (serial %s)", vm.LogPath())
	}
	fb := findState(vm.Events()[n:], events.TypeInfo, "upgrade", "fellBack")
	if fb == nil || fb.Fields["failedVersion"] != panicVersion || fb.Fields["version"] != base {
		t.Errorf("upgrade fellBack event: %+v, want failedVersion %s on %s (serial %s)", fb, panicVersion, base, vm.LogPath())
	}
	if st := bootStatus(t, c); !st.FellBack || st.FailedVersion != panicVersion || st.Version != base {
		t.Errorf("BootStatus after the fallback: %+v, want fellBack from %s on %s", st, panicVersion, base)
	}
	powerOff(t, ctx, vm)
	names := espListing(t, disk, "::/EFI/Linux")
	spent := slices.ContainsFunc(names, func(name string) bool {
		e, err := entry.Parse(name)
		return err == nil && e.Version == panicVersion && e.Bad()
	})
	if !spent || !slices.Contains(names, entry.Prefix+base+entry.Suffix) {
		t.Errorf("EFI/Linux after the fallback: %q, want %s with its tries spent (+0-3) and %s blessed", names, panicVersion, base)
	}
}

// buildPanicking builds a release whose command line keeps every KSPP parameter (so the
// node's checks accept it) and adds rdinit=/nonexistent: the kernel finds no init and
// panics, and panic=10 reboots. The spec copy lies in the repository's root for the
// build's run, because kiln build reads the kernel fragments relative to the spec file.
func buildPanicking(t *testing.T, img image, version, keys string) string {
	t.Helper()
	repo := filepath.Join(img.out, "..")
	spec, err := pipeline.LoadSpec(filepath.Join(repo, "kiln.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cmdline := strings.Join(strings.Fields(spec.Kernel.Cmdline), " ") + " rdinit=/nonexistent"
	if f := kspp.Failures(kspp.CheckCmdline(cmdline)); len(f) > 0 {
		t.Fatalf("the panicking command line fails KSPP, the upgrade would be refused: %+v", f)
	}
	quote := func(s string) string { b, _ := json.Marshal(s); return string(b) } // a JSON string is a YAML scalar
	doc := fmt.Sprintf("name: %s\nversion: %s\nsourceDateEpoch: %d\nkernel:\n  fragments: %s\n  cmdline: %s\nrootfs:\n  compression: %s\noutput: %s\n",
		quote(spec.Name), quote(spec.Version), spec.SourceDateEpoch, quote(spec.Kernel.Fragments), quote(cmdline),
		quote(spec.Rootfs.Compression), quote(spec.Output))
	name := fmt.Sprintf(".e2e-panic-%d.yaml", os.Getpid())
	path := filepath.Join(repo, name)
	if parsed, err := pipeline.ParseSpec(path, []byte(doc)); err != nil || parsed.Kernel.Cmdline != cmdline {
		t.Fatalf("the panicking spec: %v (cmdline %q)\n%s", err, parsed.Kernel.Cmdline, doc)
	}
	t.Cleanup(func() { os.Remove(path) })
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(path)
	return buildFromSpec(t, img, name, version, keys)
}

// startUpgradeVM starts the machine with firmware (qemu.WithUEFI with the setup-mode
// template: systemd-boot enrols Kiln's keys on the first boot; or qemu.WithUEFIVars with
// enrolled vars), a TPM, the node config on fw_cfg, and apid forwarded. QEMU runs without
// -no-reboot: enrolment, upgrades and boot counting all reset the machine.
func startUpgradeVM(t *testing.T, img image, name, disk, nodeConfig, tpm string, hostPort int, firmware qemu.Option) *qemu.VM {
	t.Helper()
	vm, err := qemu.Start(context.Background(),
		qemu.WithName(name),
		qemu.WithLogDir(filepath.Join(img.out, "qemu-logs")),
		qemu.WithEvents(),
		qemu.WithMemory(1024),
		qemu.WithLogf(t.Logf),
		qemu.WithExtraArgs("-device", "i6300esb", "-cpu", "qemu64", "-fw_cfg", "name=opt/kiln/config,file="+nodeConfig),
		firmware,
		qemu.WithDisk(disk),
		qemu.WithTPM(tpm),
		qemu.WithUserNet(qemu.Forward{HostPort: hostPort, GuestPort: 50000}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vm.Kill)
	return vm
}

// runLong runs kilnctl with a longer bound than ctl.run's (an upgrade waits for a boot).
func runLong(t *testing.T, c ctl, d time.Duration, args ...string) string {
	t.Helper()
	out, err := runKilnctl(c, d, args...)
	if err != nil {
		t.Fatalf("kilnctl %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// runKilnctl runs kilnctl bounded by d, inside the lab network's namespace when c has
// one, logs its output and returns it with its error. The admin context unless args
// name another (the last --context wins): gen cert --merge makes the context it adds
// the current one.
func runKilnctl(c ctl, d time.Duration, args ...string) (string, error) {
	c.t.Helper()
	full := append([]string{"--kiln-config", c.config, "-n", c.node, "--timeout", "20s", "--context", "e2e"}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, full...)
	if c.lab != nil {
		cmd = c.lab.Command(ctx, c.bin, full...)
	}
	out, err := cmd.CombinedOutput()
	c.t.Logf("kilnctl %s\n%s", strings.Join(args, " "), truncate(string(out), 3000))
	return string(out), err
}

// refusedUnchanged runs kilnctl, which must fail naming check, and compares the ESP (every
// file and its SHA-256, read from the host) before and after.
func refusedUnchanged(t *testing.T, c ctl, disk, work, check string, args ...string) {
	t.Helper()
	before := espHashes(t, disk, work)
	out, err := c.run(args...)
	if err == nil || !strings.Contains(out, check) || !strings.Contains(out, "nothing on the ESP changed") {
		t.Errorf("kilnctl %s: %v, want a refusal naming %q:\n%s", strings.Join(args, " "), err, check, out)
	}
	if after := espHashes(t, disk, work); !maps.Equal(before, after) {
		t.Errorf("the ESP changed after a refused %q: %v → %v", check, before, after)
	}
}

// espHashes copies the whole ESP out of disk with mtools and hashes every file.
func espHashes(t *testing.T, disk, work string) map[string]string {
	t.Helper()
	dir, err := os.MkdirTemp(work, "esp-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	mtools(t, "mcopy", "-s", "-n", "-i", disk+espOffset, "::/", dir)
	out := map[string]string{}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		sum := sha256.Sum256(data)
		rel, _ := filepath.Rel(dir, path)
		out[rel] = hex.EncodeToString(sum[:])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("mcopy copied nothing off the ESP")
	}
	return out
}

// checkBootAfter: the boot after event n reached ready on version, blessed its UKI, and
// reopened the sealed STATE uuid with the config in it.
func checkBootAfter(t *testing.T, ctx context.Context, vm *qemu.VM, n int, version, uuid string) {
	t.Helper()
	ready, err := waitFor(ctx, vm, uefiTimeout, after(n, readyOrFailed()))
	if err != nil || ready.State != events.StateReady {
		t.Fatalf("no ready after the reboot: %v %+v (serial %s)", err, ready, vm.LogPath())
	}
	if ready.Fields["version"] != version {
		t.Errorf("came back on %q, want %s", ready.Fields["version"], version)
	}
	evs := vm.Events()[n:]
	if b := ready.Fields["blessed"]; b != "" && b != entry.Prefix+version+entry.Suffix {
		t.Errorf("blessed %q, want the %s UKI", b, version)
	}
	st := findState(evs, events.TypeInfo, "state", "mounted")
	if st == nil || st.Fields["mode"] != "sealed" || st.Fields["created"] != "false" || st.Fields["uuid"] != uuid {
		t.Errorf("STATE after the reboot: %+v, want the sealed STATE %s reopened", st, uuid)
	}
	if cfg := findEvent(evs, events.TypeInfo, "config"); cfg == nil || cfg.Fields["source"] != "state" {
		t.Errorf("config after the reboot: %+v, want it read from STATE", cfg)
	}
}

type upgradeBootStatus struct {
	Booted, Version, Standby, StandbyVersion string
	FellBack                                 bool
	FailedEntry, FailedVersion               string
}

func bootStatus(t *testing.T, c ctl) upgradeBootStatus {
	t.Helper()
	out := c.must("get", "BootStatus", "boot", "-o", "json")
	var doc struct {
		Spec upgradeBootStatus `json:"spec"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("kilnctl get BootStatus -o json: %v\n%s", err, out)
	}
	return doc.Spec
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
