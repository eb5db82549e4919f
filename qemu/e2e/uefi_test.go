package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/bootloader/entry"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/internal/sparse"
	"github.com/kiln-os/kiln/measure/pcr"
	"github.com/kiln-os/kiln/qemu"
	"github.com/kiln-os/kiln/uki/authenticode"
	"github.com/kiln-os/kiln/uki/pe"
)

// OVMF from Debian's ovmf package: Secure Boot capable code (needs q35 + SMM) and a vars
// template with no keys, i.e. in setup mode.
const (
	ovmfCode      = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
	ovmfSetupVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
	uefiTimeout   = 8 * time.Minute
	espOffset     = "@@1M" // mtools: the ESP starts at 1 MiB in disk.raw
)

func requireUEFI(t *testing.T) image {
	img := requireImage(t)
	for _, f := range []string{ovmfCode, ovmfSetupVars} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("%s missing (install ovmf: make deps)", f)
		}
	}
	if _, err := exec.LookPath("mdir"); err != nil {
		t.Fatalf("mdir missing (install mtools: make deps)")
	}
	return img
}

// TestUEFISecureBoot walks one machine through its life: enrolment in setup mode, a Secure
// Boot boot to ready with the entry blessed, refusal of foreign and tampered UKIs by the
// firmware, and a boot from the ISO. Later steps reuse the enrolled vars of the first.
func TestUEFISecureBoot(t *testing.T) {
	img := requireUEFI(t)
	work := t.TempDir()
	disk := filepath.Join(work, "disk.raw")
	copySparse(t, artifact(t, img, "disk"), disk)
	var enrolledVars string

	t.Run("EnrolBootReadyBless", func(t *testing.T) {
		vm := startUEFI(t, img, "uefi-enrol", qemu.WithUEFI(ovmfCode, ovmfSetupVars), qemu.WithDisk(disk))
		ctx, cancel := context.WithTimeout(context.Background(), uefiTimeout)
		defer cancel()
		ready := waitReadyEvent(t, ctx, vm)
		sb := findEvent(vm.Events(), events.TypeInfo, "secureboot")
		if sb == nil || sb.State != "enabled" || sb.Fields["SecureBoot"] != "1" || sb.Fields["SetupMode"] != "0" {
			t.Errorf("secure boot state inside the VM: %+v", sb)
		}
		if !strings.Contains(vm.SerialLog(), "Secure boot enabled") {
			t.Errorf("kernel log does not say Secure boot enabled (serial %s)", vm.LogPath())
		}
		blessed := entry.Prefix + img.manifest.Version + entry.Suffix
		if ready.Fields["blessed"] != blessed {
			t.Errorf("ready event blessed %q, want %q", ready.Fields["blessed"], blessed)
		}
		powerOff(t, ctx, vm)
		if got := espListing(t, disk, "::/EFI/Linux"); len(got) != 1 || got[0] != blessed {
			t.Errorf("EFI/Linux after the boot = %v, want [%s]", got, blessed)
		}
		enrolledVars = filepath.Join(work, "enrolled.vars.fd")
		copyFile(t, vm.VarsPath(), enrolledVars)
	})
	if enrolledVars == "" {
		t.Fatal("no enrolled machine to continue with")
	}

	t.Run("RefusesForeignSignature", func(t *testing.T) {
		foreign := resign(t, readArtifact(t, img, "uki"))
		expectRefusal(t, img, work, disk, enrolledVars, "uefi-foreign", foreign)
	})
	t.Run("RefusesTamperedCmdline", func(t *testing.T) {
		expectRefusal(t, img, work, disk, enrolledVars, "uefi-tampered", tamperCmdline(t, readArtifact(t, img, "uki")))
	})

	// The enrolment boot had no TPM, so disk's STATE is plain: on a machine with a TPM
	// that is the disk-swap attack (issue 12, hole 6), and the boot must stop.
	t.Run("PlainStateRefusedWithTPM", func(t *testing.T) { expectPlainStateRefused(t, img, work, disk, enrolledVars) })

	t.Run("MeasuredBootMatchesPrediction", func(t *testing.T) {
		vars := filepath.Join(work, "tpm.vars.fd")
		copyFile(t, enrolledVars, vars)
		// A blank STATE, sealed on this boot: disk's own is plain and now refused.
		tpmDisk := filepath.Join(work, "tpm.raw")
		copySparse(t, disk, tpmDisk)
		blankState(t, tpmDisk)
		vm := startUEFI(t, img, "uefi-tpm", qemu.WithUEFIVars(ovmfCode, vars), qemu.WithDisk(tpmDisk),
			qemu.WithTPM(filepath.Join(work, "tpm-state")))
		ctx, cancel := context.WithTimeout(context.Background(), uefiTimeout)
		defer cancel()
		waitReadyEvent(t, ctx, vm)
		if e := findEvent(vm.Events(), events.TypeInfo, "eventlog"); e == nil || e.State != "verified" {
			t.Errorf("firmware event log not verified against the TPM: %+v", e)
		}
		// PCR 11 read inside the VM after each phase equals the build's prediction.
		for _, phase := range pcr.Phases() {
			got := findState(vm.Events(), events.TypeInfo, "pcr11", phase)
			if got == nil {
				t.Errorf("no PCR 11 reading for phase %s", phase)
				continue
			}
			for _, bank := range []string{"sha256", "sha384"} {
				want := img.manifest.PCR11[bank][phase]
				if want == "" || got.Fields[bank] != want {
					t.Errorf("PCR 11 %s after %s = %s, manifest predicts %s", bank, phase, got.Fields[bank], want)
				}
			}
		}
		powerOff(t, ctx, vm)
	})

	t.Run("SealedState", func(t *testing.T) { testSealedState(t, img, work, enrolledVars) })

	t.Run("ISOBootsUnderSecureBoot", func(t *testing.T) {
		vars := filepath.Join(work, "iso.vars.fd")
		copyFile(t, enrolledVars, vars)
		started := time.Now()
		vm := startUEFI(t, img, "uefi-iso", qemu.WithUEFIVars(ovmfCode, vars), qemu.WithCDROM(artifact(t, img, "iso")))
		ctx, cancel := context.WithTimeout(context.Background(), uefiTimeout)
		defer cancel()
		ready := waitReadyEvent(t, ctx, vm)
		recordUEFITiming(t, img, "uefi-iso", vm.Events(), ready, time.Since(started))
		if sb := findEvent(vm.Events(), events.TypeInfo, "secureboot"); sb == nil || sb.State != "enabled" {
			t.Errorf("ISO boot: secure boot %+v", sb)
		}
		powerOff(t, ctx, vm)
	})
}

// expectRefusal puts uki on a copy of the disk as the only entry and boots it with our keys
// enrolled: the firmware must refuse it ("Access Denied") and machined must never run.
func expectRefusal(t *testing.T, img image, work, blessedDisk, enrolledVars, name string, uki []byte) {
	disk := filepath.Join(work, name+".raw")
	copySparse(t, blessedDisk, disk)
	vars := filepath.Join(work, name+".vars.fd")
	copyFile(t, enrolledVars, vars)
	badPath := filepath.Join(work, name+".efi")
	os.WriteFile(badPath, uki, 0o644)
	blessed := entry.Prefix + img.manifest.Version + entry.Suffix
	mtools(t, "mdel", "-i", disk+espOffset, "::/EFI/Linux/"+blessed)
	mtools(t, "mcopy", "-i", disk+espOffset, badPath, "::/EFI/Linux/"+entry.Fresh(img.manifest.Version))

	vm := startUEFI(t, img, name, qemu.WithUEFIVars(ovmfCode, vars), qemu.WithDisk(disk))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// The refusal has no event (nothing of ours runs): the firmware's message is the signal.
	if err := vm.WaitSerial(ctx, "Access Denied"); err != nil {
		t.Fatalf("no refusal from the firmware: %v (serial %s)", err, vm.LogPath())
	}
	if evs := vm.Events(); len(evs) > 0 {
		t.Errorf("machined ran from a refused UKI: %v", evs)
	}
	vm.Kill()
}

func startUEFI(t *testing.T, img image, name string, opts ...qemu.Option) *qemu.VM {
	t.Helper()
	return startUEFIBare(t, img, name, append([]qemu.Option{withConfig(t)}, opts...)...)
}

func waitReadyEvent(t *testing.T, ctx context.Context, vm *qemu.VM) events.Event {
	t.Helper()
	e, err := vm.WaitEvent(ctx, qemu.Any(
		qemu.Match(events.TypeBoot, "machined", events.StateReady),
		qemu.Match(events.TypeBoot, "machined", events.StateFailed)))
	if err != nil {
		t.Fatalf("no ready: %v (serial %s)", err, vm.LogPath())
	}
	if e.State != events.StateReady {
		t.Fatalf("boot failed: %s (serial %s)", e.Error, vm.LogPath())
	}
	return e
}

func powerOff(t *testing.T, ctx context.Context, vm *qemu.VM) {
	t.Helper()
	if err := vm.PowerButton(ctx); err != nil {
		t.Fatal(err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, shutdownTimeout)
	defer cancel()
	if err := vm.Wait(waitCtx); err != nil {
		t.Fatalf("no clean power off: %v", err)
	}
}

func findEvent(evs []events.Event, typ, name string) *events.Event {
	for i := range evs {
		if evs[i].Type == typ && evs[i].Name == name {
			return &evs[i]
		}
	}
	return nil
}

func artifact(t *testing.T, img image, name string) string {
	t.Helper()
	p, err := img.manifest.Path(img.out, name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func readArtifact(t *testing.T, img image, name string) []byte {
	data, err := os.ReadFile(artifact(t, img, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// resign signs the UKI with a freshly made key that the machine has never seen.
func resign(t *testing.T, uki []byte) []byte {
	signed, _ := resignWithCert(t, uki)
	return signed
}

// resignWithCert is resign, also returning the foreign certificate.
func resignWithCert(t *testing.T, uki []byte) ([]byte, *x509.Certificate) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "not Kiln's db"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<32, 0), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	signed, err := authenticode.Sign(uki, cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return signed, cert
}

// tamperCmdline changes one byte of the signed UKI's .cmdline (keeping its signature).
func tamperCmdline(t *testing.T, uki []byte) []byte {
	f, err := pe.Parse(uki)
	if err != nil {
		t.Fatal(err)
	}
	s := f.Section(".cmdline")
	if s == nil {
		t.Fatal("UKI has no .cmdline")
	}
	out := bytes.Clone(uki)
	i := int(s.PointerToRawData) + bytes.Index(f.SectionData(s), []byte("panic=10")) + len("panic=1")
	out[i] = '9' // panic=19: a harmless change the signature must still catch
	return out
}

func espListing(t *testing.T, disk, dir string) []string {
	out := mtools(t, "mdir", "-b", "-i", disk+espOffset, dir)
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line != "" {
			names = append(names, filepath.Base(line))
		}
	}
	return names
}

func mtools(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	return string(out)
}

func copySparse(t *testing.T, src, dst string) {
	t.Helper()
	if err := sparse.Copy(src, dst); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, src, dst string) {
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// recordUEFITiming splits QEMU start → ready into firmware + systemd-boot + stub (host time
// minus the kernel's uptime at ready), kernel → stage 1, and the rest, for docs/benchmarks.md.
func recordUEFITiming(t *testing.T, img image, name string, evs []events.Event, ready events.Event, total time.Duration) {
	uptime, _ := strconv.ParseFloat(ready.Fields["uptime"], 64)
	var stage1 float64
	if e := findState(evs, events.TypeBoot, "machined", events.StateStarted); e != nil {
		stage1, _ = strconv.ParseFloat(e.Fields["stage1Uptime"], 64)
	}
	timing := map[string]float64{
		"qemuStartToReadySeconds":       total.Seconds(),
		"firmwareBootloaderStubSeconds": total.Seconds() - uptime,
		"kernelToInitSeconds":           stage1,
		"initToReadySeconds":            uptime - stage1,
	}
	t.Logf("UEFI boot timing: %v", timing)
	data, _ := json.MarshalIndent(timing, "", "  ")
	os.WriteFile(filepath.Join(img.out, "qemu-logs", name+"-timing.json"), data, 0o644)
}
