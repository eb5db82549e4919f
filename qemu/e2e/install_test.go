package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/bootloader/entry"
	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/qemu"
)

// installDiskSize is the empty disk an install writes: over the installer's 2 GiB floor.
const installDiskSize = 3 << 30

// TestInstall is issue 14's installer from the ISO: a machine in setup mode with the ISO,
// an empty disk, a TPM and a config with machine.install installs, reboots from its disk
// with the keys enrolled and STATE sealed, and reaches ready; without the ISO (and
// without the config from fw_cfg) it boots to ready again with the config from STATE.
// The installed disk passes sgdisk and fsck.vfat, and its ESP holds disk.raw's files. A
// disk that holds another partition table is refused without wipe and left unchanged.
func TestInstall(t *testing.T) {
	img := requireUEFI(t)
	work := t.TempDir()
	disk := emptyDisk(t, work, "install.raw")
	tpm := filepath.Join(work, "tpm")
	cfg := installConfig(t, work, "/dev/vda", false)
	var enrolled string

	t.Run("FromISO", func(t *testing.T) {
		started := time.Now()
		vm := startUEFIBare(t, img, "install-iso", qemu.WithUEFI(ovmfCode, ovmfSetupVars), qemu.WithDisk(disk),
			qemu.WithCDROM(artifact(t, img, "iso")), qemu.WithTPM(tpm), qemu.WithExtraArgs("-fw_cfg", "name=opt/kiln/config,file="+cfg))
		ctx, cancel := context.WithTimeout(context.Background(), 3*uefiTimeout)
		defer cancel()
		done, err := vm.WaitEvent(ctx, qemu.Any(qemu.Match(events.TypeInfo, "install", events.StateDone),
			qemu.Match(events.TypeInfo, "install", "refused"), qemu.Failed))
		if err != nil || done.State != events.StateDone {
			t.Fatalf("install: %v %+v (serial %s)", err, done, vm.LogPath())
		}
		installed := time.Now()
		var took time.Duration
		if st := findState(vm.Events(), events.TypeInfo, "install", events.StateStarted); st != nil {
			took = done.Time.Sub(st.Time)
		}
		if done.Fields["disk"] != "/dev/vda" || done.Fields["medium"] != "cdrom" || done.Fields["config"] != "carried" {
			t.Errorf("install done event %+v, want /dev/vda from the cdrom with the config carried", done)
		}
		if took <= 0 {
			t.Error("no install started event before done")
		}
		n := len(vm.Events())
		ready := waitReadyAfter(t, ctx, vm, n)
		readyAt := time.Now()
		evs := vm.Events()[n:]
		if m := findEvent(evs, events.TypeInfo, "boot-medium"); m == nil || m.State != "disk" {
			t.Errorf("after the install the node booted from %+v, want its disk", m)
		}
		if sb := findEvent(evs, events.TypeInfo, "secureboot"); sb == nil || sb.State != "enabled" {
			t.Errorf("installed system's Secure Boot: %+v", sb)
		}
		if st := findEvent(evs, events.TypeInfo, "state"); st == nil || st.State != "mounted" || st.Fields["mode"] != "sealed" {
			t.Errorf("installed system's STATE: %+v, want sealed", st)
		}
		if ready.Fields["blessed"] != entry.Prefix+img.manifest.Version+entry.Suffix {
			t.Errorf("ready event %+v, want the installed UKI blessed", ready)
		}
		powerOff(t, ctx, vm)
		enrolled = filepath.Join(work, "enrolled.vars.fd")
		copyFile(t, vm.VarsPath(), enrolled)
		recordTimes(t, img, "install-timing.json", map[string]float64{
			"powerOnToInstalledSeconds":       installed.Sub(started).Seconds(),
			"installSeconds":                  took.Seconds(),
			"installedToReadyFromDiskSeconds": readyAt.Sub(installed).Seconds(),
		})
		checkInstalledDisk(t, img, work, disk)
	})
	if enrolled == "" {
		t.Fatal("no installed machine to continue with")
	}

	t.Run("SecondBootFromDiskAlone", func(t *testing.T) {
		vars := filepath.Join(work, "second.vars.fd")
		copyFile(t, enrolled, vars)
		vm := startUEFIBare(t, img, "install-second", qemu.WithUEFIVars(ovmfCode, vars), qemu.WithDisk(disk), qemu.WithTPM(tpm))
		ctx, cancel := context.WithTimeout(context.Background(), uefiTimeout)
		defer cancel()
		waitReadyAfter(t, ctx, vm, 0)
		if c := findEvent(vm.Events(), events.TypeInfo, "config"); c == nil || c.Fields["source"] != "state" {
			t.Errorf("config event %+v, want the config from STATE", c)
		}
		powerOff(t, ctx, vm)
	})

	t.Run("RefusesDiskWithData", func(t *testing.T) {
		other := emptyDisk(t, work, "other.raw")
		if out, err := exec.Command("sgdisk", "-o", "-n", "1:0:+16M", other).CombinedOutput(); err != nil {
			t.Fatalf("sgdisk (install gdisk: make deps): %v\n%s", err, out)
		}
		before := fileSum(t, other)
		vars := filepath.Join(work, "refuse.vars.fd")
		copyFile(t, enrolled, vars)
		vm := startUEFIBare(t, img, "install-refuse", qemu.WithUEFIVars(ovmfCode, vars), qemu.WithDisk(other),
			qemu.WithCDROM(artifact(t, img, "iso")), qemu.WithExtraArgs("-fw_cfg", "name=opt/kiln/config,file="+cfg))
		ctx, cancel := context.WithTimeout(context.Background(), uefiTimeout)
		defer cancel()
		refused, err := vm.WaitEvent(ctx, qemu.Any(qemu.Match(events.TypeInfo, "install", "refused"),
			qemu.Match(events.TypeInfo, "install", events.StateDone), qemu.Failed))
		if err != nil || refused.State != "refused" {
			t.Fatalf("no refusal: %v %+v (serial %s)", err, refused, vm.LogPath())
		}
		if refused.Fields["disk"] != "/dev/vda" || !strings.Contains(refused.Error, "/dev/vda") || !strings.Contains(refused.Error, "wipe") {
			t.Errorf("refusal %+v, want it to name /dev/vda and wipe", refused)
		}
		// The node stays live, and ready, for the operator to fix the config.
		waitReadyAfter(t, ctx, vm, 0)
		powerOff(t, ctx, vm)
		if after := fileSum(t, other); after != before {
			t.Errorf("the refused disk changed: %x, was %x", after, before)
		}
	})
}

// waitReadyAfter waits for ready among the events after the first n, failing on a failed boot.
func waitReadyAfter(t *testing.T, ctx context.Context, vm *qemu.VM, n int) events.Event {
	t.Helper()
	e, err := vm.WaitEvent(ctx, after(n, readyOrFailed()))
	if err != nil || e.State != events.StateReady {
		t.Fatalf("no ready: %v %+v (serial %s)", err, e, vm.LogPath())
	}
	return e
}

// emptyDisk makes a sparse, all-zero disk image of installDiskSize.
func emptyDisk(t *testing.T, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(installDiskSize); err != nil {
		t.Fatal(err)
	}
	return path
}

// installConfig is a controlplane config (gen config's) with machine.install set.
func installConfig(t *testing.T, dir, disk string, wipe bool) string {
	t.Helper()
	secrets, err := config.GenerateSecrets(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cp, _, err := config.Generate(config.GenerateInput{Secrets: secrets, ClusterName: "install", Endpoint: "https://10.0.2.15:6443", InstallDisk: disk})
	if err != nil {
		t.Fatal(err)
	}
	cp.Machine.Install.Wipe = wipe
	return saveConfig(t, dir, "install.yaml", cp)
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// checkInstalledDisk runs the real tools on the installed disk: sgdisk -v on the GPT,
// fsck.vfat -n on the ESP, and the ESP's files against disk.raw's (the UKI by content:
// the installed one has been blessed, disk.raw's still counts its tries).
func checkInstalledDisk(t *testing.T, img image, work, disk string) {
	t.Helper()
	out, err := exec.Command("sgdisk", "-v", disk).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "No problems found") {
		t.Errorf("sgdisk -v: %v\n%s", err, out)
	}
	esp := filepath.Join(work, "esp.img")
	extractESP(t, disk, esp)
	if out, err := exec.Command("fsck.vfat", "-n", esp).CombinedOutput(); err != nil {
		t.Errorf("fsck.vfat -n on the installed ESP: %v\n%s", err, out)
	}
	got, want := espFiles(t, work, "installed", disk), espFiles(t, work, "image", artifact(t, img, "disk"))
	if len(got) != len(want) {
		t.Errorf("installed ESP has %v, disk.raw's %v", sortedNames(got), sortedNames(want))
	}
	for name, data := range want {
		if strings.HasPrefix(name, "EFI/Linux/") {
			if !bytes.Equal(got["EFI/Linux/"+entry.Prefix+img.manifest.Version+entry.Suffix], data) {
				t.Errorf("the installed UKI differs from disk.raw's %s", name)
			}
			continue
		}
		if !bytes.Equal(got[name], data) {
			t.Errorf("installed ESP's %s differs from disk.raw's", name)
		}
	}
}

// espFiles reads every file of disk's ESP (at 1 MiB) with mtools.
func espFiles(t *testing.T, work, name, disk string) map[string][]byte {
	t.Helper()
	dir := filepath.Join(work, "esp-"+name)
	os.MkdirAll(dir, 0o755)
	mtools(t, "mcopy", "-s", "-n", "-i", disk+espOffset, "::/", dir)
	files := map[string][]byte{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = data
		return nil
	})
	return files
}

func sortedNames(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// recordTimes writes figures for make bench (ci/bench.sh) beside the serial logs.
func recordTimes(t *testing.T, img image, name string, figures map[string]float64) {
	t.Logf("%s: %v", name, figures)
	data, _ := json.MarshalIndent(figures, "", "  ")
	os.WriteFile(filepath.Join(img.out, "qemu-logs", name), data, 0o644)
}
