package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/bootloader/entry"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/upgrade"
	"github.com/kiln-os/kiln/pipeline"
	"github.com/kiln-os/kiln/qemu"
)

// Power-cut trials (issue 13): how many by default (CI, as part of `make test`), and the
// bounds of each wait.
const (
	defaultPowerCutTrials = 4
	// restartTimeout allows a restart after a cut to spend boot-counting tries on a
	// failing entry (machined's 30 s delay or a panic, three times) before the good one.
	restartTimeout = 15 * time.Minute
	pollEvery      = 20 * time.Millisecond
	// newKernelMark is the kernel's first console line: the new boot has started.
	newKernelMark = "Linux version"
)

// TestPowerCut is issue 13's power-cut trials: a sealed node (one enrolment boot with its
// config) is copied for each trial; the copy starts an upgrade to a second release and
// QEMU is SIGKILLed at a random instant between the upgrade's start and one second into
// the new boot. The instant is uniform over [0, T], T measured in an uncut calibration
// run (upgrade start to the new kernel's first console line, plus 1 s), from a logged
// seed (KILN_POWERCUT_SEED replays one). After each cut the machine restarts on the same
// disk, TPM and vars and must reach ready on the old or the new version with its sealed
// STATE and config, `fsck.vfat -n` must report nothing about a UKI, and EFI/Linux must
// hold only whole UKIs (each byte-identical to one of the two releases). Results go to
// _out/qemu-logs/powercut.json (ci/powercut-report.sh puts them in docs/benchmarks.md).
// KILN_POWERCUT_TRIALS sets the number of trials (`make powercut`: 20).
func TestPowerCut(t *testing.T) {
	img := requireUEFI(t)
	if _, err := exec.LookPath("fsck.vfat"); err != nil {
		t.Fatalf("fsck.vfat missing (install dosfstools: make deps)")
	}
	trials := powerCutTrials(t)
	seed := powerCutSeed(t)
	t.Logf("power-cut trials: %d, seed %d (KILN_POWERCUT_SEED=%d replays the kill times)", trials, seed, seed)
	rng := rand.New(rand.NewSource(seed))
	base := img.manifest.Version
	work := t.TempDir()
	p := powerCut{t: t, img: img, work: work, base: base,
		newUKI: buildVariant(t, img, upgradeVersion, filepath.Join(img.out, "..", "_keys"))}
	p.hashes = map[string]string{fileHash(t, artifact(t, img, "uki")): base, fileHash(t, p.newUKI): upgradeVersion}
	p.c = ctl{t: t, bin: buildKilnctl(t, work), config: filepath.Join(work, "kiln-config")}
	p.hostPort = freePort(t)
	p.c.node = fmt.Sprintf("127.0.0.1:%d", p.hostPort)
	p.c.must("gen", "config", "--kubernetes=false", "--name", "e2e", "--endpoint", "https://10.0.2.15:6443", "--out", work)
	p.nodeConfig = writeNodeConfig(t, work)
	p.makePristine()

	report := powerCutReport{Trials: trials, Seed: seed, Base: base, Upgrade: upgradeVersion, UKIBytes: fileSize(t, p.newUKI)}
	report.Calibration = p.calibrate()
	report.Accel = report.Calibration.accel
	report.WindowMS = report.Calibration.NewKernelMS + 1000
	p.writeReport(&report)
	for i := 1; i <= trials; i++ {
		killAt := time.Duration(rng.Int63n(report.WindowMS*int64(time.Millisecond) + 1))
		r := p.trial(i, killAt, report.Calibration)
		report.Results = append(report.Results, r)
		p.writeReport(&report) // after each trial, so a test that stops keeps what it measured
		if len(r.Problems) > 0 {
			t.Errorf("trial %d (kill at %d ms, %s): %s", i, r.KillMS, r.Phase, strings.Join(r.Problems, "; "))
		}
	}
}

func powerCutTrials(t *testing.T) int {
	s := os.Getenv("KILN_POWERCUT_TRIALS")
	if s == "" {
		return defaultPowerCutTrials
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("KILN_POWERCUT_TRIALS=%q: want a number of trials, at least 1", s)
	}
	return n
}

func powerCutSeed(t *testing.T) int64 {
	s := os.Getenv("KILN_POWERCUT_SEED")
	if s == "" {
		return time.Now().UnixNano()
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("KILN_POWERCUT_SEED=%q: want an integer", s)
	}
	return n
}

// powerCutReport is powercut.json.
type powerCutReport struct {
	Trials      int           `json:"trials"`
	Seed        int64         `json:"seed"`
	Base        string        `json:"base"`
	Upgrade     string        `json:"upgrade"`
	Accel       string        `json:"accel"`
	UKIBytes    int64         `json:"ukiBytes"`
	WindowMS    int64         `json:"windowMs"` // kill times are uniform in [0, windowMs]
	Calibration calibration   `json:"calibration"`
	Results     []trialResult `json:"results"`
}

// calibration is one uncut upgrade: the node's own durations (from the upgrade event)
// and host times after kilnctl started, in ms.
type calibration struct {
	ReceiveSeconds  float64 `json:"receiveSeconds"`
	VerifySeconds   float64 `json:"verifySeconds"`
	WriteSeconds    float64 `json:"writeSeconds"`
	InstalledMS     int64   `json:"installedMs"`     // the upgrade event reached the host
	RebootMS        int64   `json:"rebootMs"`        // machined's reboot event
	NewKernelMS     int64   `json:"newKernelMs"`     // the new kernel's first console line
	ReadyMS         int64   `json:"readyMs"`         // the new boot's ready event
	DowntimeSeconds float64 `json:"downtimeSeconds"` // reboot event to ready
	accel           string
}

// trialResult is one cut.
type trialResult struct {
	Trial  int   `json:"trial"`
	KillMS int64 `json:"killMs"`
	// Phase is where the kill fell: transfer, verify, write, reboot or new-boot.
	// PhaseFrom says how it is known: "observed" (the upgrade event or the new kernel
	// was seen before the kill) or "calibration" (the kill came before the upgrade
	// event; the calibration run's receive and verify times split the time before it).
	Phase         string     `json:"phase"`
	PhaseFrom     string     `json:"phaseFrom"`
	Outcome       string     `json:"outcome"` // the version the restart reached ready on, or "unbootable"
	FailedBoots   int        `json:"failedBoots"`
	Cleanup       string     `json:"cleanup"` // the restart's upgrade-cleanup event, "" if none
	FsckAfterCut  fsckResult `json:"fsckAfterCut"`
	FsckAfterBoot fsckResult `json:"fsckAfterBoot"`
	ESP           []string   `json:"esp"` // EFI/Linux after the restart
	Problems      []string   `json:"problems,omitempty"`
	SerialLogs    []string   `json:"serialLogs"`
}

// powerCut is the trials' shared setup: a pristine sealed node to copy, the second
// release, and kilnctl.
type powerCut struct {
	t                          *testing.T
	img                        image
	c                          ctl
	work, base, newUKI         string
	nodeConfig                 string
	hostPort                   int
	hashes                     map[string]string // SHA-256 of each release's UKI → version
	pristineDisk, pristineTPM  string
	pristineVars, pristineUUID string
}

// trialMachine is one trial's copy of the pristine node.
type trialMachine struct{ disk, tpm, vars string }

// makePristine: one enrolment boot with the config on fw_cfg makes the sealed node that
// every trial copies.
func (p *powerCut) makePristine() {
	t := p.t
	p.pristineDisk = filepath.Join(p.work, "pristine.raw")
	p.pristineTPM = filepath.Join(p.work, "pristine-tpm")
	copySparse(t, artifact(t, p.img, "disk"), p.pristineDisk)
	vm := startUpgradeVM(t, p.img, "powercut-pristine", p.pristineDisk, p.nodeConfig, p.pristineTPM, p.hostPort, qemu.WithUEFI(ovmfCode, ovmfSetupVars))
	ctx, cancel := context.WithTimeout(context.Background(), uefiTimeout)
	defer cancel()
	waitReadyEvent(t, ctx, vm)
	st := findState(vm.Events(), events.TypeInfo, "state", "mounted")
	if st == nil || st.Fields["mode"] != "sealed" || st.Fields["uuid"] == "" {
		t.Fatalf("STATE on the pristine node: %+v, want sealed (serial %s)", st, vm.LogPath())
	}
	p.pristineUUID = st.Fields["uuid"]
	powerOff(t, ctx, vm)
	p.pristineVars = filepath.Join(p.work, "pristine.vars.fd")
	copyFile(t, vm.VarsPath(), p.pristineVars)
}

// copyMachine copies the pristine disk, TPM and vars for one run, so runs are independent.
func (p *powerCut) copyMachine(name string) trialMachine {
	m := trialMachine{disk: filepath.Join(p.work, name+".raw"), tpm: filepath.Join(p.work, name+"-tpm"), vars: filepath.Join(p.work, name+".vars.fd")}
	copySparse(p.t, p.pristineDisk, m.disk)
	copyFlatDir(p.t, p.pristineTPM, m.tpm)
	copyFile(p.t, p.pristineVars, m.vars)
	return m
}

func (p *powerCut) boot(name string, m trialMachine) *qemu.VM {
	return startUpgradeVM(p.t, p.img, name, m.disk, p.nodeConfig, m.tpm, p.hostPort, qemu.WithUEFIVars(ovmfCode, m.vars))
}

// discard removes a finished run's disk copy (each is the size of the image).
func (m trialMachine) discard() { os.Remove(m.disk); os.RemoveAll(m.tpm); os.Remove(m.vars) }

// startUpgrade starts `kilnctl upgrade --image newUKI` in the background; stop kills it
// (bounded) and returns its output.
func (p *powerCut) startUpgrade() (stop func() string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	args := []string{"--kiln-config", p.c.config, "-n", p.c.node, "--timeout", "20s", "--context", "e2e", "upgrade", "--image", p.newUKI}
	cmd := exec.CommandContext(ctx, p.c.bin, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	return func() string {
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cancel()
			<-done
		}
		cancel()
		return out.String()
	}, nil
}

// timeline records when (after t0) each mark of an upgrade was first seen on a VM,
// polling its events and console.
type timeline struct {
	vm         *qemu.VM
	t0         time.Time
	eventsFrom int
	serialFrom int
	seen       map[string]time.Duration
	installed  *events.Event
}

func newTimeline(vm *qemu.VM) *timeline {
	return &timeline{vm: vm, t0: time.Now(), eventsFrom: len(vm.Events()), serialFrom: len(vm.SerialLog()), seen: map[string]time.Duration{}}
}

func (tl *timeline) poll() {
	now := time.Since(tl.t0)
	mark := func(name string, ok bool) {
		if _, done := tl.seen[name]; ok && !done {
			tl.seen[name] = now
		}
	}
	evs := tl.vm.Events()[tl.eventsFrom:]
	if e := findState(evs, events.TypeInfo, "upgrade", "installed"); e != nil {
		tl.installed = e
		mark("installed", true)
	}
	reboot := -1
	for i, e := range evs {
		if e.Type == events.TypeBoot && e.Name == "machined" && e.State == events.StateReboot {
			reboot = i
			break
		}
	}
	mark("reboot", reboot >= 0)
	mark("ready", reboot >= 0 && findState(evs[reboot:], events.TypeBoot, "machined", events.StateReady) != nil)
	mark("newKernel", strings.Contains(serialSince(tl.vm, tl.serialFrom), newKernelMark))
}

// serialSince is the console after offset from (all of what is kept, if the harness
// trimmed its in-memory copy past it).
func serialSince(vm *qemu.VM, from int) string {
	log := vm.SerialLog()
	if from > len(log) {
		return log
	}
	return log[from:]
}

func (tl *timeline) ms(name string) int64 {
	d, ok := tl.seen[name]
	if !ok {
		return -1
	}
	return d.Milliseconds()
}

// calibrate runs one uncut upgrade on a copy of the node to ready on the new version.
func (p *powerCut) calibrate() calibration {
	t := p.t
	m := p.copyMachine("powercut-calibration")
	defer m.discard()
	vm := p.boot("powercut-calibration", m)
	ctx, cancel := context.WithTimeout(context.Background(), uefiTimeout)
	defer cancel()
	waitReadyEvent(t, ctx, vm)
	tl := newTimeline(vm)
	stop, err := p.startUpgrade()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(uefiTimeout)
	for tl.ms("ready") < 0 {
		if time.Now().After(deadline) {
			t.Fatalf("calibration: the upgraded node was not ready within %v (serial %s); kilnctl:\n%s", uefiTimeout, vm.LogPath(), stop())
		}
		time.Sleep(pollEvery)
		tl.poll()
	}
	t.Logf("calibration kilnctl:\n%s", truncate(stop(), 2000))
	if tl.installed == nil {
		t.Fatalf("calibration: no upgrade installed event (serial %s)", vm.LogPath())
	}
	cal := calibration{InstalledMS: tl.ms("installed"), RebootMS: tl.ms("reboot"), NewKernelMS: tl.ms("newKernel"), ReadyMS: tl.ms("ready"), accel: vm.AccelName()}
	cal.ReceiveSeconds, _ = strconv.ParseFloat(tl.installed.Fields["receiveSeconds"], 64)
	cal.VerifySeconds, _ = strconv.ParseFloat(tl.installed.Fields["verifySeconds"], 64)
	cal.WriteSeconds, _ = strconv.ParseFloat(tl.installed.Fields["writeSeconds"], 64)
	if cal.NewKernelMS < 0 { // no kernel banner on the console: the new boot's first event is later, the window only wider
		t.Logf("calibration: no %q on the console after the reboot; the window ends at ready", newKernelMark)
		cal.NewKernelMS = cal.ReadyMS
	}
	if cal.RebootMS >= 0 {
		cal.DowntimeSeconds = float64(cal.ReadyMS-cal.RebootMS) / 1000
	}
	ready := findState(vm.Events()[tl.eventsFrom:], events.TypeBoot, "machined", events.StateReady)
	if ready == nil || ready.Fields["version"] != upgradeVersion {
		t.Fatalf("calibration: ready %+v, want version %s (serial %s)", ready, upgradeVersion, vm.LogPath())
	}
	t.Logf("calibration: %+v", cal)
	vm.Kill()
	return cal
}

// trial cuts the power of a copy of the node killAt after kilnctl upgrade started,
// restarts it and checks it.
func (p *powerCut) trial(i int, killAt time.Duration, cal calibration) trialResult {
	t := p.t
	name := fmt.Sprintf("powercut-%02d", i)
	r := trialResult{Trial: i, KillMS: killAt.Milliseconds()}
	m := p.copyMachine(name)
	defer m.discard()
	vm := p.boot(name, m)
	r.SerialLogs = append(r.SerialLogs, vm.LogPath())
	ctx, cancel := context.WithTimeout(context.Background(), uefiTimeout)
	defer cancel()
	waitReadyEvent(t, ctx, vm)
	tl := newTimeline(vm)
	stop, err := p.startUpgrade()
	if err != nil {
		t.Fatal(err)
	}
	for time.Since(tl.t0) < killAt {
		tl.poll()
		time.Sleep(min(pollEvery, killAt-time.Since(tl.t0)))
	}
	r.KillMS = time.Since(tl.t0).Milliseconds()
	vm.Kill()
	tl.poll() // what reached the host before the kill
	t.Logf("trial %d: killed at %d ms; kilnctl:\n%s", i, r.KillMS, truncate(stop(), 1000))
	r.Phase, r.PhaseFrom = phaseOf(tl, r.KillMS, cal)
	r.FsckAfterCut = fsckESP(t, m.disk, p.work)

	after := p.boot(name+"-after", m)
	r.SerialLogs = append(r.SerialLogs, after.LogPath())
	p.checkRestart(after, m, &r)
	return r
}

// phaseOf says where a kill at killMS fell, from what the trial saw before the kill,
// else from the calibration's split of the time before the upgrade event.
func phaseOf(tl *timeline, killMS int64, cal calibration) (phase, from string) {
	switch {
	case tl.ms("newKernel") >= 0:
		return "new-boot", "observed"
	case tl.ms("installed") >= 0:
		return "reboot", "observed"
	}
	receiveEnd := cal.InstalledMS - int64((cal.VerifySeconds+cal.WriteSeconds)*1000)
	verifyEnd := cal.InstalledMS - int64(cal.WriteSeconds*1000)
	switch {
	case killMS < receiveEnd:
		return "transfer", "calibration"
	case killMS < verifyEnd:
		return "verify", "calibration"
	case killMS < cal.InstalledMS:
		return "write", "calibration"
	}
	return "write-or-reboot", "calibration" // later than the calibration's event, and none seen
}

// checkRestart waits for the restarted machine to be ready and checks it, its ESP, and
// the ESP's file system; every finding goes into r.Problems.
func (p *powerCut) checkRestart(vm *qemu.VM, m trialMachine, r *trialResult) {
	problem := func(format string, args ...any) {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...)+" (serial "+vm.LogPath()+")")
	}
	ctx, cancel := context.WithTimeout(context.Background(), restartTimeout+shutdownTimeout)
	defer cancel()
	ready, err := waitFor(ctx, vm, restartTimeout, qemu.Match(events.TypeBoot, "machined", events.StateReady))
	if err != nil {
		r.Outcome = "unbootable"
		p.t.Logf("trial %d: %v", r.Trial, err)
		first, _, _ := strings.Cut(err.Error(), "\n")
		problem("no ready after the restart within %v: %s", restartTimeout, first)
		vm.Kill()
		return
	}
	evs := lastBoot(vm.Events())
	r.Outcome = ready.Fields["version"]
	for _, e := range vm.Events() {
		if e.Type == events.TypeBoot && e.Name == "machined" && e.State == events.StateFailed {
			r.FailedBoots++
		}
	}
	if r.Outcome != p.base && r.Outcome != upgradeVersion {
		problem("ready on version %q, want %s or %s", r.Outcome, p.base, upgradeVersion)
	}
	st := findState(evs, events.TypeInfo, "state", "mounted")
	if st == nil || st.Fields["mode"] != "sealed" || st.Fields["created"] != "false" || st.Fields["uuid"] != p.pristineUUID {
		problem("STATE: %+v, want the sealed STATE %s reopened", st, p.pristineUUID)
	}
	if cfg := findEvent(evs, events.TypeInfo, "config"); cfg == nil || cfg.Fields["source"] != "state" {
		problem("config: %+v, want it read from STATE", cfg)
	}
	if e := findEvent(evs, events.TypeInfo, "upgrade-cleanup"); e != nil {
		r.Cleanup = strings.TrimSpace(e.State + " " + e.Fields["removed"] + " " + e.Error)
	}
	offCtx, offCancel := context.WithTimeout(ctx, shutdownTimeout)
	defer offCancel()
	if err = vm.PowerButton(offCtx); err == nil {
		err = vm.Wait(offCtx)
	}
	if err != nil {
		problem("no clean power off after the restart: %v", err)
		vm.Kill()
	}
	r.FsckAfterBoot = fsckESP(p.t, m.disk, p.work)
	for _, line := range r.FsckAfterBoot.Harmful {
		problem("fsck.vfat after the restart: %s", line)
	}
	if r.FsckAfterBoot.Exit > 1 {
		problem("fsck.vfat after the restart exited %d", r.FsckAfterBoot.Exit)
	}
	r.ESP = p.checkESP(m.disk, r.Outcome, problem)
}

// lastBoot is the events of the last boot: from machined's last started event on.
func lastBoot(evs []events.Event) []events.Event {
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type == events.TypeBoot && evs[i].Name == "machined" && evs[i].State == events.StateStarted {
			return evs[i:]
		}
	}
	return evs
}

// checkESP lists EFI/Linux (hidden files too) and checks that every file is a whole UKI
// of one of the two releases, that no temp file or untried "+3" is left, and that the
// booted version's UKI is there.
func (p *powerCut) checkESP(disk, booted string, problem func(string, ...any)) []string {
	t := p.t
	out := mtools(t, "mdir", "-a", "-b", "-i", disk+espOffset, "::/"+upgrade.LinuxDir)
	var names []string
	dir, err := os.MkdirTemp(p.work, "esp-linux-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	versions := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		name := filepath.Base(strings.TrimSpace(line))
		if name == "" || name == "." || name == ".." {
			continue
		}
		names = append(names, name)
		if name == upgrade.TempName || strings.HasPrefix(name, ".") {
			problem("stray %s left in EFI/Linux after the next boot", name)
			continue
		}
		if e, err := entry.Parse(name); err == nil && e.Counting && e.Left > 0 && e.Done == 0 {
			problem("untried %s left in EFI/Linux after the next boot", name)
		}
		local := filepath.Join(dir, name)
		mtools(t, "mcopy", "-n", "-i", disk+espOffset, "::/"+upgrade.LinuxDir+"/"+name, local)
		v, ok := p.hashes[fileHash(t, local)]
		if !ok {
			problem("%s in EFI/Linux is neither release's UKI (%d bytes): a half-written file", name, fileSize(t, local))
		}
		versions[v] = true
	}
	if booted != "" && booted != "unbootable" && !versions[booted] {
		problem("no whole UKI of the booted version %s in EFI/Linux: %q", booted, names)
	}
	return names
}

// fsckResult is `fsck.vfat -n` on the ESP: its exit status and its report, split into
// lines that cannot lose a UKI and lines that name one (or the boot loader) or a
// cross-link.
type fsckResult struct {
	Exit     int      `json:"exit"`
	Harmless []string `json:"harmless,omitempty"`
	Harmful  []string `json:"harmful,omitempty"`
}

// fsckESP copies the ESP out of disk and runs fsck.vfat -n (no changes) on the copy.
func fsckESP(t *testing.T, disk, work string) fsckResult {
	t.Helper()
	esp := filepath.Join(work, "esp.img")
	extractESP(t, disk, esp)
	defer os.Remove(esp)
	out, err := exec.Command("fsck.vfat", "-n", esp).CombinedOutput()
	var r fsckResult
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.Exit = exit.ExitCode()
	case err != nil:
		t.Fatalf("fsck.vfat: %v", err)
	}
	if r.Exit != 0 {
		r.Harmless, r.Harmful = classifyFsck(string(out))
	}
	return r
}

// classifyFsck splits fsck.vfat's report into items (a line and the indented lines that
// continue it). Harmful: an item naming a file under /EFI/ or /loader/ (the temp file of an
// upgrade excepted: it is never booted and Cleanup removes it), or clusters shared by two
// files. Harmless: the rest (the dirty bit, the free cluster count, the backup boot
// sector, lost chains no name points to), kept for the record.
func classifyFsck(out string) (harmless, harmful []string) {
	var items []string
	for _, line := range strings.Split(out, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "" || strings.HasPrefix(trimmed, "fsck.fat ") || strings.HasPrefix(trimmed, "Leaving file") ||
			strings.Contains(trimmed, " files, ") && strings.Contains(trimmed, " clusters"):
			// the banner and the summary
		case line != trimmed && len(items) > 0: // indented: continues the item
			items[len(items)-1] += " / " + trimmed
		default:
			items = append(items, trimmed)
		}
	}
	for _, item := range items {
		lower := strings.ToLower(strings.ReplaceAll(item, "/"+upgrade.LinuxDir+"/"+upgrade.TempName, "temp file"))
		if strings.Contains(lower, "/efi/") || strings.Contains(lower, "/loader/") || strings.Contains(lower, "share clusters") ||
			strings.Contains(lower, "cross-linked") {
			harmful = append(harmful, item)
		} else {
			harmless = append(harmless, item)
		}
	}
	return harmless, harmful
}

// extractESP copies the ESP partition (at 1 MiB, pipeline.ESPSize long) of disk to dst.
func extractESP(t *testing.T, disk, dst string) {
	t.Helper()
	in, err := os.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(out, io.NewSectionReader(in, 1<<20, pipeline.ESPSize)); err != nil {
		t.Fatal(err)
	}
}

func (p *powerCut) writeReport(r *powerCutReport) {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		p.t.Fatal(err)
	}
	path := filepath.Join(p.img.out, "qemu-logs", "powercut.json")
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

func fileHash(t *testing.T, path string) string {
	t.Helper()
	sum := sha256.Sum256(mustRead(t, path))
	return hex.EncodeToString(sum[:])
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
