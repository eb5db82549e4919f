package machined

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/sirupsen/logrus/hooks/test"

	"github.com/kiln-os/kiln/bootloader/efivar"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/upgrade"
	"github.com/kiln-os/kiln/internal/ukitest"
)

// espDir writes files (name → version of a good signed UKI, or "" for an empty file)
// into a fresh EFI/Linux directory.
func espDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, v := range files {
		var data []byte
		if v != "" {
			data = ukitest.Kiln(v).Build(t)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		out = append(out, de.Name())
	}
	return out
}

func runESPAtBoot(t *testing.T, b espAtBoot) ([]events.Event, string) {
	t.Helper()
	var got []events.Event
	log, _ := test.NewNullLogger()
	b.emit = func(e events.Event) { got = append(got, e) }
	b.log = log
	b.version = "0.1.0"
	blessed, status, err := b.run()
	if err != nil {
		t.Fatal(err)
	}
	if status.Version != "0.1.0" {
		t.Errorf("BootStatus version %q", status.Version)
	}
	return got, blessed
}

func findEvent(evs []events.Event, name string) *events.Event {
	for i := range evs {
		if evs[i].Name == name {
			return &evs[i]
		}
	}
	return nil
}

func TestBootCleansUpAnInterruptedUpgradeAndSaysSo(t *testing.T) {
	dir := espDir(t, map[string]string{"kiln-0.1.0.efi": "0.1.0", "kiln-0.0.9.efi": "0.0.9", "kiln-0.1.1+3.efi": ""})
	// a cut Install: half the image in the temporary file, an empty "+3" (a rename cut
	// before the file's fsync)
	half := ukitest.Kiln("0.1.1").Build(t)
	if err := os.WriteFile(filepath.Join(dir, upgrade.TempName), half[:len(half)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	evs, _ := runESPAtBoot(t, espAtBoot{linuxDir: dir, booted: "kiln-0.1.0.efi"})
	e := findEvent(evs, "upgrade-cleanup")
	if e == nil || e.State != events.StateDone || e.Fields["removed"] != upgrade.TempName+",kiln-0.1.1+3.efi" {
		t.Errorf("cleanup event = %+v", e)
	}
	if got := names(t, dir); !slices.Equal(got, []string{"kiln-0.0.9.efi", "kiln-0.1.0.efi"}) {
		t.Errorf("EFI/Linux after the boot: %q", got)
	}
	if findEvent(evs, "upgrade") != nil {
		t.Error("an untried half-written upgrade reported as a fallback")
	}
}

func TestBootReportsAFallBack(t *testing.T) {
	dir := espDir(t, map[string]string{"kiln-0.1.0.efi": "0.1.0", "kiln-0.1.1+0-3.efi": "0.1.1"})
	b := espAtBoot{linuxDir: dir, booted: "kiln-0.1.0.efi"}
	var evs []events.Event
	log, _ := test.NewNullLogger()
	b.emit, b.log, b.version = func(e events.Event) { evs = append(evs, e) }, log, "0.1.0"
	_, status, err := b.run()
	if err != nil {
		t.Fatal(err)
	}
	if !status.FellBack || status.FailedEntry != "kiln-0.1.1+0-3.efi" || status.FailedVersion != "0.1.1" || status.Booted != "kiln-0.1.0.efi" {
		t.Errorf("BootStatus = %+v", status)
	}
	if e := findEvent(evs, "upgrade"); e == nil || e.State != "fellBack" || e.Fields["failedVersion"] != "0.1.1" {
		t.Errorf("fallback event = %+v", e)
	}
	if findEvent(evs, "upgrade-cleanup") != nil {
		t.Error("a cleanup event with nothing removed")
	}
}

func TestBootBlessesTheUpgradeAndNamesTheStandby(t *testing.T) {
	dir := espDir(t, map[string]string{"kiln-0.0.9.efi": "0.0.9", "kiln-0.1.0+2-1.efi": "0.1.0"})
	b := espAtBoot{linuxDir: dir, booted: "kiln-0.1.0+2-1.efi", countPath: `\EFI\Linux\kiln-0.1.0+2-1.efi`}
	log, _ := test.NewNullLogger()
	b.emit, b.log, b.version = func(events.Event) {}, log, "0.1.0"
	blessed, status, err := b.run()
	if err != nil {
		t.Fatal(err)
	}
	if blessed != "kiln-0.1.0.efi" || status.Booted != "kiln-0.1.0.efi" || status.Standby != "kiln-0.0.9.efi" || status.StandbyVersion != "0.0.9" || status.FellBack {
		t.Errorf("blessed %q, BootStatus %+v", blessed, status)
	}
}

func efivarString(t *testing.T, dir, name, value string) {
	t.Helper()
	b := binary.LittleEndian.AppendUint32(nil, 6)
	for _, u := range utf16.Encode([]rune(value + "\x00")) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	if err := os.WriteFile(filepath.Join(dir, name+"-"+efivar.LoaderVendor.String()), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBootedName(t *testing.T) {
	linux := espDir(t, map[string]string{"kiln-0.1.0.efi": "", "kiln-0.1.1.efi": "", "kiln-0.1.2+2-1.efi": ""})
	cases := []struct {
		name, countPath, selected, running, want string
	}{
		{name: "counted, not yet blessed", countPath: `\EFI\Linux\kiln-0.1.2+2-1.efi`, running: "0.1.2", want: "kiln-0.1.2+2-1.efi"},
		{name: "counted, blessed since", countPath: `\EFI\Linux\kiln-0.1.1+2-1.efi`, running: "0.1.1", want: "kiln-0.1.1.efi"},
		{name: "blessed entry selected", selected: "kiln-0.1.0.efi", running: "0.1.0", want: "kiln-0.1.0.efi"},
		{name: "no variables: the running version", running: "0.1.1", want: "kiln-0.1.1.efi"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			efivars := t.TempDir()
			if c.countPath != "" {
				efivarString(t, efivars, "LoaderBootCountPath", c.countPath)
			}
			if c.selected != "" {
				efivarString(t, efivars, "LoaderEntrySelected", c.selected)
			}
			got, err := bootedName(efivars, linux, c.running)
			if err != nil || got != c.want {
				t.Errorf("bootedName = %q, %v; want %q", got, err, c.want)
			}
		})
	}
	if _, err := bootedName(t.TempDir(), linux, "9.9"); err == nil || !strings.Contains(err.Error(), "9.9") {
		t.Errorf("no booted UKI: %v", err)
	}
}

func TestOSReleaseID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "os-release")
	os.WriteFile(path, []byte("NAME=\"Kiln\"\nID=\"kiln\"\nVERSION_ID=0.1.0\n"), 0o644)
	if got := osReleaseID(path); got != "kiln" {
		t.Errorf("osReleaseID = %q", got)
	}
}
