package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/bootloader/entry"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/storage/stateheader"
	"github.com/kiln-os/kiln/measure/pcr"
	"github.com/kiln-os/kiln/pipeline"
	"github.com/kiln-os/kiln/qemu"
)

// stateOffset is where STATE starts in disk.raw: after the 1 MiB GPT gap and the ESP.
const stateOffset = 1<<20 + pipeline.ESPSize

// testSealedState is issue 5 end to end, on a machine whose keys are enrolled: STATE is
// created encrypted with its key sealed to the signed PCR 11 policy, survives a reboot,
// opens under a newer UKI signed with the same PCR key, stays shut (and untouched) under a
// UKI whose policy another PCR key signed, and is locked after ready.
func testSealedState(t *testing.T, img image, work, enrolledVars string) {
	disk := filepath.Join(work, "sealed.raw")
	copySparse(t, artifact(t, img, "disk"), disk)
	vars := filepath.Join(work, "sealed.vars.fd")
	copyFile(t, enrolledVars, vars)
	tpm := filepath.Join(work, "sealed-tpm")
	boot := func(name string) *qemu.VM {
		return startUEFI(t, img, name, qemu.WithUEFIVars(ovmfCode, vars), qemu.WithDisk(disk), qemu.WithTPM(tpm))
	}
	var uuid string

	t.Run("CreatedEncryptedAndLocked", func(t *testing.T) {
		vm := boot("sealed-first")
		ctx, cancel := context.WithTimeout(context.Background(), uefiTimeout)
		defer cancel()
		waitReadyEvent(t, ctx, vm)
		st := findState(vm.Events(), events.TypeInfo, "state", "mounted")
		if st == nil || st.Fields["mode"] != "sealed" || st.Fields["created"] != "true" {
			t.Fatalf("STATE on first boot: %+v", st)
		}
		uuid = st.Fields["uuid"]
		checkLocked(t, vm)
		powerOff(t, ctx, vm)
	})
	if uuid == "" {
		t.Fatal("no sealed STATE to continue with")
	}

	t.Run("SurvivesReboot", func(t *testing.T) {
		vm := boot("sealed-again")
		ctx, cancel := context.WithTimeout(context.Background(), uefiTimeout)
		defer cancel()
		waitReadyEvent(t, ctx, vm)
		checkReopened(t, vm, uuid)
		checkLocked(t, vm)
		powerOff(t, ctx, vm)
	})

	// Issue 12, hole 2: with Secure Boot off, the genuine UKI's own measurements are the
	// replay an attacker would forge; PCR 11 reaches the signed value, but PCR 7 differs,
	// so the TPM keeps the key. And PCR 11 moves past the signed value on the failure path
	// (hole 3).
	t.Run("SecureBootOffCannotUnseal", func(t *testing.T) {
		// A copy of the machine with Secure Boot off: the same disk and TPM, the firmware
		// in setup mode (fresh vars, no keys) and no keys on the ESP for systemd-boot to
		// enrol, so it boots the UKI unverified.
		offDisk := filepath.Join(work, "sealed-sb-off.raw")
		copySparse(t, disk, offDisk)
		mtools(t, "mdeltree", "-i", offDisk+espOffset, "::/loader/keys")
		offTPM := filepath.Join(work, "sealed-sb-off-tpm")
		copyFlatDir(t, tpm, offTPM)
		before := stateDigest(t, offDisk)
		vm := startUEFI(t, img, "sealed-secure-boot-off", qemu.WithUEFI(ovmfCode, ovmfSetupVars), qemu.WithDisk(offDisk), qemu.WithTPM(offTPM))
		ctx, cancel := context.WithTimeout(context.Background(), uefiTimeout)
		defer cancel()
		e, err := vm.WaitEvent(ctx, qemu.Any(qemu.Match(events.TypeBoot, "machined", events.StateReady), qemu.Match(events.TypeBoot, "machined", events.StateFailed)))
		if err != nil {
			t.Fatalf("no boot result: %v (serial %s)", err, vm.LogPath())
		}
		if e.State != events.StateFailed || !strings.Contains(e.Error, "PCR 7") {
			t.Errorf("boot with Secure Boot off: %s %q, want a failure naming PCR 7", e.State, e.Error)
		}
		if sb := findEvent(vm.Events(), events.TypeInfo, "secureboot"); sb == nil || sb.State == "enabled" {
			t.Errorf("secure boot inside the VM: %+v, want it off", sb)
		}
		leave := findState(vm.Events(), events.TypeInfo, "pcr11", pcr.PhaseLeaveInitrd)
		if leave == nil || leave.Fields["sha256"] != img.manifest.PCR11["sha256"][pcr.PhaseLeaveInitrd] {
			t.Errorf("PCR 11 after leave-initrd = %+v, want the signed value %s: the replay did not happen and the test proves nothing",
				leave, img.manifest.PCR11["sha256"][pcr.PhaseLeaveInitrd])
		}
		if lock := findState(vm.Events(), events.TypeInfo, "pcr11", pcr.PhaseSysinit); lock == nil || lock.Fields["sha256"] != img.manifest.PCR11["sha256"][pcr.PhaseSysinit] {
			t.Errorf("after the failed unseal PCR 11 = %+v, want it moved on to the sysinit value", lock)
		}
		vm.Kill()
		if after := stateDigest(t, offDisk); after != before {
			t.Errorf("STATE changed after the refused unseal: %s → %s", before, after)
		}
	})

	t.Run("NewVersionSamePCRKeyUnseals", func(t *testing.T) {
		uki := buildVariant(t, img, "0.1.1-e2e", filepath.Join(img.out, "..", "_keys"))
		installOnly(t, img, disk, uki, "0.1.1-e2e")
		vm := boot("sealed-new-version")
		ctx, cancel := context.WithTimeout(context.Background(), uefiTimeout)
		defer cancel()
		ready := waitReadyEvent(t, ctx, vm)
		if ready.Fields["version"] != "0.1.1-e2e" {
			t.Errorf("booted version %q, want 0.1.1-e2e", ready.Fields["version"])
		}
		checkReopened(t, vm, uuid)
		powerOff(t, ctx, vm)
	})

	t.Run("OtherPCRKeyCannotUnseal", func(t *testing.T) {
		keys := otherPCRKey(t, img, work)
		uki := buildVariant(t, img, "0.1.2-e2e", keys)
		installOnly(t, img, disk, uki, "0.1.2-e2e")
		before := stateDigest(t, disk)
		vm := boot("sealed-foreign-pcr-key")
		ctx, cancel := context.WithTimeout(context.Background(), uefiTimeout)
		defer cancel()
		e, err := vm.WaitEvent(ctx, qemu.Any(qemu.Match(events.TypeBoot, "machined", events.StateReady), qemu.Match(events.TypeBoot, "machined", events.StateFailed)))
		if err != nil {
			t.Fatalf("no boot result: %v (serial %s)", err, vm.LogPath())
		}
		if e.State != events.StateFailed || !strings.Contains(e.Error, "STATE") || !strings.Contains(strings.ToLower(e.Error), "unseal") && !strings.Contains(e.Error, "policy") {
			t.Errorf("boot with a foreign PCR key: %s %q, want a failure naming the unseal", e.State, e.Error)
		}
		vm.Kill()
		if after := stateDigest(t, disk); after != before {
			t.Errorf("STATE changed after the failed unseal: %s → %s", before, after)
		}
	})
}

func checkLocked(t *testing.T, vm *qemu.VM) {
	t.Helper()
	if e := findEvent(vm.Events(), events.TypeInfo, "tpm-lock"); e == nil || e.State != "locked" {
		t.Errorf("after ready the STATE key must not unseal: %+v", e)
	}
}

// checkReopened: the same STATE (UUID) was unsealed, not created, and the config it holds
// (the marker written on the first boot) was read back from it.
func checkReopened(t *testing.T, vm *qemu.VM, uuid string) {
	t.Helper()
	st := findState(vm.Events(), events.TypeInfo, "state", "mounted")
	if st == nil || st.Fields["mode"] != "sealed" || st.Fields["created"] != "false" || st.Fields["uuid"] != uuid {
		t.Errorf("STATE: %+v, want the sealed STATE %s reopened", st, uuid)
	}
	if cfg := findEvent(vm.Events(), events.TypeInfo, "config"); cfg == nil || cfg.Fields["source"] != "state" {
		t.Errorf("config %+v, want it read back from STATE", cfg)
	}
}

// buildVariant builds the image again with another version (and maybe other keys) into a
// temporary output and returns its UKI: a release that a node would upgrade to.
func buildVariant(t *testing.T, img image, version, keys string) string {
	t.Helper()
	return buildFromSpec(t, img, "kiln.yaml", version, keys)
}

// buildFromSpec is buildVariant from another spec file in the repository's root.
func buildFromSpec(t *testing.T, img image, spec, version, keys string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	cmd := exec.Command("go", "run", "./cmd/kiln", "build", "-f", spec, "--version", version, "--output", out, "--keys", keys)
	cmd.Dir = filepath.Join(img.out, "..")
	if log, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", version, err, log)
	}
	m, err := pipeline.ReadManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	uki, err := m.Path(out, "uki")
	if err != nil {
		t.Fatal(err)
	}
	return uki
}

// otherPCRKey is a key directory with the same Secure Boot keys (so the firmware accepts
// the UKI) and a new PCR key.
func otherPCRKey(t *testing.T, img image, work string) string {
	t.Helper()
	keys := filepath.Join(work, "other-pcr-keys")
	fresh := filepath.Join(work, "fresh-keys")
	repo := filepath.Join(img.out, "..")
	cmd := exec.Command("go", "run", "./cmd/kiln", "keys", "generate", "--dir", fresh)
	cmd.Dir = repo
	if log, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("keys generate: %v\n%s", err, log)
	}
	os.MkdirAll(keys, 0o700)
	entries, _ := os.ReadDir(filepath.Join(repo, "_keys"))
	for _, e := range entries {
		src := filepath.Join(repo, "_keys", e.Name())
		if e.Name() == "pcr.key" {
			src = filepath.Join(fresh, "pcr.key")
		}
		copyFile(t, src, filepath.Join(keys, e.Name()))
		os.Chmod(filepath.Join(keys, e.Name()), 0o600) // kiln build refuses keys others can read
	}
	return keys
}

// installOnly makes uki the only entry on the disk's ESP, with fresh boot counting.
func installOnly(t *testing.T, img image, disk, uki, version string) {
	t.Helper()
	for _, name := range espListing(t, disk, "::/EFI/Linux") {
		mtools(t, "mdel", "-i", disk+espOffset, "::/EFI/Linux/"+name)
	}
	mtools(t, "mcopy", "-i", disk+espOffset, uki, "::/EFI/Linux/"+entry.Fresh(version))
}

// stateDigest hashes the STATE partition of disk.
func stateDigest(t *testing.T, disk string) string {
	t.Helper()
	f, err := os.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, stateOffset, pipeline.StateSize)); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// expectPlainStateRefused boots a copy of disk, whose STATE is plain (made by a boot
// without a TPM), with a TPM: the boot fails naming the plain header and how to start
// over, and STATE is not written.
func expectPlainStateRefused(t *testing.T, img image, work, disk, enrolledVars string) {
	plainDisk := filepath.Join(work, "plain-tpm.raw")
	copySparse(t, disk, plainDisk)
	vars := filepath.Join(work, "plain-tpm.vars.fd")
	copyFile(t, enrolledVars, vars)
	before := stateDigest(t, plainDisk)
	vm := startUEFI(t, img, "uefi-plain-tpm", qemu.WithUEFIVars(ovmfCode, vars), qemu.WithDisk(plainDisk),
		qemu.WithTPM(filepath.Join(work, "plain-tpm")))
	ctx, cancel := context.WithTimeout(context.Background(), uefiTimeout)
	defer cancel()
	e, err := vm.WaitEvent(ctx, qemu.Any(qemu.Match(events.TypeBoot, "machined", events.StateReady), qemu.Match(events.TypeBoot, "machined", events.StateFailed)))
	if err != nil {
		t.Fatalf("no boot result: %v (serial %s)", err, vm.LogPath())
	}
	if e.State != events.StateFailed || !strings.Contains(e.Error, "plain") || !strings.Contains(e.Error, "kilnctl reset --wipe-state") {
		t.Errorf("plain STATE on a TPM machine: %s %q, want a failure naming the plain header and the reset", e.State, e.Error)
	}
	vm.Kill()
	if after := stateDigest(t, plainDisk); after != before {
		t.Errorf("STATE changed after the refused boot: %s → %s", before, after)
	}
}

// blankState zeroes STATE's header area in disk, so the next boot formats it afresh.
func blankState(t *testing.T, disk string) {
	t.Helper()
	f, err := os.OpenFile(disk, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, stateheader.AreaSize), stateOffset); err != nil {
		t.Fatal(err)
	}
}

// copyFlatDir copies a directory of regular files (swtpm's state) to dst.
func copyFlatDir(t *testing.T, src, dst string) {
	t.Helper()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			t.Fatalf("%s/%s is not a regular file", src, e.Name())
		}
		copyFile(t, filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()))
	}
}
