package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/bootloader/entry"
	"github.com/kiln-os/kiln/bootloader/keys"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/pipeline"
	"github.com/kiln-os/kiln/qemu"
	"github.com/kiln-os/kiln/uki/authenticode"
	"github.com/kiln-os/kiln/uki/pe"
)

// TestBootCountingFallsBack installs a newer UKI with one try left next to the good one and
// boots: the newer one fails before ready, systemd-boot marks it +0-1, and the machine comes
// up on the previous good entry without any OS code deciding the fallback. Two ways to
// fail: the kernel panics (no init), and machined fails a boot phase (a KSPP parameter is
// missing) and reboots after its delay.
func TestBootCountingFallsBack(t *testing.T) {
	img := requireUEFI(t)
	good := readArtifact(t, img, "uki")
	cases := []struct {
		name    string
		cmdline func(string) string
	}{
		{"KernelPanics", func(c string) string { return c + " rdinit=/no/such/init" }},
		{"BootPhaseFails", func(c string) string {
			return strings.Join(strings.Fields(strings.Replace(c, "slab_nomerge", "", 1)), " ")
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			work := t.TempDir()
			bad := rebuildUKI(t, img, good, c.cmdline)
			disk := filepath.Join(work, "disk.raw")
			copySparse(t, artifact(t, img, "disk"), disk)
			badName := "kiln-99.0+1.efi" // newer than the image's version: sorts first
			goodName := entry.Prefix + img.manifest.Version + entry.Suffix
			badPath := filepath.Join(work, "bad.efi")
			os.WriteFile(badPath, bad, 0o644)
			mtools(t, "mren", "-i", disk+espOffset, "::/EFI/Linux/"+entry.Fresh(img.manifest.Version), "::/EFI/Linux/"+goodName)
			mtools(t, "mcopy", "-i", disk+espOffset, badPath, "::/EFI/Linux/"+badName)

			vm := startUEFI(t, img, "bootcount-"+c.name, qemu.WithUEFI(ovmfCode, ovmfSetupVars), qemu.WithDisk(disk))
			ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
			defer cancel()
			// Enrolment reset, the failing try (panic=10 or machined's 30 s delay), then the
			// good entry: the ready event must come from a boot with nothing to bless.
			ready, err := vm.WaitEvent(ctx, qemu.Match(events.TypeBoot, "machined", events.StateReady))
			if err != nil {
				t.Fatalf("no ready after the fallback: %v (serial %s)", err, vm.LogPath())
			}
			if ready.Fields["blessed"] != "" {
				t.Errorf("the fallback boot blessed %q: it should have booted the already good entry", ready.Fields["blessed"])
			}
			failed := findState(vm.Events(), events.TypeBoot, "machined", events.StateFailed)
			switch c.name {
			case "BootPhaseFails":
				if failed == nil || !strings.Contains(failed.Error, "slab_nomerge") {
					t.Errorf("no failed boot naming slab_nomerge before the fallback: %+v", failed)
				}
			case "KernelPanics":
				if failed != nil {
					t.Errorf("machined ran in the panicking boot: %+v", failed)
				}
				if !strings.Contains(vm.SerialLog(), "Kernel panic") {
					t.Errorf("no kernel panic on the console (serial %s)", vm.LogPath())
				}
			}
			powerOff(t, ctx, vm)
			got := espListing(t, disk, "::/EFI/Linux")
			want := []string{"kiln-99.0+0-1.efi", goodName}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("EFI/Linux = %v, want %v (the bad entry spent, the good one kept)", got, want)
			}
		})
	}
}

// rebuildUKI assembles a UKI from the sections of the built one with another command line,
// signed with the image's db key: a validly signed image that fails to boot.
func rebuildUKI(t *testing.T, img image, uki []byte, cmdline func(string) string) []byte {
	t.Helper()
	return reassembleUKI(t, img, uki, func(name string, data []byte) []byte {
		switch name {
		case ".cmdline":
			return []byte(cmdline(string(data)))
		case ".osrel": // systemd-boot sorts UKIs by the version in .osrel first
			return []byte(strings.ReplaceAll(string(data), img.manifest.Version, "99.0"))
		}
		return data
	})
}

// reassembleUKI assembles a UKI from the boot sections of the built one, each passed
// through edit, and signs it with the image's db key (no .pcrsig: its PCR 11 would differ).
func reassembleUKI(t *testing.T, img image, uki []byte, edit func(name string, data []byte) []byte) []byte {
	t.Helper()
	f, err := pe.Parse(uki)
	if err != nil {
		t.Fatal(err)
	}
	stub, err := os.ReadFile(pipeline.StubPath)
	if err != nil {
		t.Fatal(err)
	}
	var sections []pe.Section
	for _, name := range []string{".osrel", ".cmdline", ".uname", ".sbat", ".linux", ".initrd"} {
		s := f.Section(name)
		if s == nil {
			t.Fatalf("UKI has no %s", name)
		}
		data := edit(name, append([]byte(nil), f.SectionData(s)...))
		sections = append(sections, pe.Section{Name: name, Data: data})
	}
	image, err := pe.Assemble(pe.Options{Stub: stub, Sections: sections, Timestamp: uint32(img.manifest.SourceDateEpoch)})
	if err != nil {
		t.Fatal(err)
	}
	set, err := keys.Load(filepath.Join(img.out, "..", "_keys"))
	if err != nil {
		t.Fatalf("the image's keys: %v", err)
	}
	signed, err := authenticode.Sign(image, set.DB.Cert, set.DB.Signer)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func findState(evs []events.Event, typ, name, state string) *events.Event {
	for i := range evs {
		if evs[i].Type == typ && evs[i].Name == name && evs[i].State == state {
			return &evs[i]
		}
	}
	return nil
}
