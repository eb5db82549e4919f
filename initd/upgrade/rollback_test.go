package upgrade

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/kiln-os/kiln/bootloader/entry"
)

func TestMarkBad(t *testing.T) {
	cases := []struct{ booted, bad string }{
		{"kiln-0.2.0.efi", "kiln-0.2.0+0.efi"},       // blessed, running
		{"kiln-0.2.0+1-2.efi", "kiln-0.2.0+0-2.efi"}, // tried, not yet blessed
		{"KILN-0.2.0.EFI", "kiln-0.2.0+0.efi"},       // FAT ignores case
		{"kiln-0.2.0+0-3.efi", "kiln-0.2.0+0-3.efi"}, // already bad: unchanged
	}
	for _, c := range cases {
		m := newMachine(t)
		file := c.booted
		if c.booted != "KILN-0.2.0.EFI" && c.booted != "kiln-0.2.0.efi" {
			if err := rename(m.linux, "kiln-0.2.0.efi", c.booted); err != nil {
				t.Fatal(err)
			}
		} else {
			file = "kiln-0.2.0.efi"
		}
		before := m.snapshot(t)
		got, err := MarkBad(m.linux, c.booted)
		if err != nil || got != c.bad {
			t.Errorf("MarkBad(%q) = %q, %v; want %q", c.booted, got, err, c.bad)
			continue
		}
		after := m.snapshot(t)
		if after[filepath.Join(LinuxDir, c.bad)] != before[filepath.Join(LinuxDir, file)] {
			t.Errorf("%s: the renamed file's bytes changed", c.booted)
		}
		// systemd-boot now boots the previous good UKI first.
		entries, err := readKiln(m.linux)
		if err != nil {
			t.Fatal(err)
		}
		entry.Sort(entries)
		if entries[0].Name() != "kiln-0.1.0.efi" || entries[len(entries)-1].Name() != c.bad {
			t.Errorf("%s: systemd-boot order %q", c.booted, entries)
		}
	}
}

func TestMarkBadRefuses(t *testing.T) {
	cases := []struct {
		name  string
		files []string // besides the booted kiln-0.2.0.efi
		check Check
		want  error
	}{
		{"no other UKI", nil, CheckRollback, ErrNoPreviousGood},
		{"only a bad one", []string{"kiln-0.1.0+0-3.efi"}, CheckRollback, ErrNoPreviousGood},
		{"an untried upgrade would boot next", []string{"kiln-0.1.0.efi", "kiln-0.3.0+3.efi"}, CheckRollback, ErrNoPreviousGood},
		{"booted UKI not there", []string{"kiln-0.1.0.efi"}, CheckESP, ErrBootedMissing},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newMachine(t)
			if err := removeFiles(m.linux, "kiln-0.1.0.efi"); err != nil {
				t.Fatal(err)
			}
			for _, f := range c.files {
				m.write(t, filepath.Join(m.linux, f), []byte(f))
			}
			booted := "kiln-0.2.0.efi"
			if c.check == CheckESP {
				booted = "kiln-0.2.1.efi"
			}
			before := m.snapshot(t)
			_, err := MarkBad(m.linux, booted)
			var refusal *Error
			if !errors.As(err, &refusal) || refusal.Check != c.check || !errors.Is(err, c.want) {
				t.Errorf("MarkBad = %v, want %q / %v", err, c.check, c.want)
			}
			if after := m.snapshot(t); !sameSnapshot(before, after) {
				t.Errorf("the ESP changed: %q", m.names(t))
			}
		})
	}
}

func rename(dir, from, to string) error {
	return os.Rename(filepath.Join(dir, from), filepath.Join(dir, to))
}

func removeFiles(dir string, names ...string) error {
	_, err := removeAll(dir, names)
	return err
}
