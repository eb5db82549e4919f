package upgrade

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/kiln-os/kiln/internal/ukitest"
)

func TestInstall(t *testing.T) {
	m := newMachine(t)
	for _, n := range []string{"kiln-0.0.9.efi", "kiln-0.2.5+0-3.efi", "notes.txt"} {
		m.write(t, filepath.Join(m.linux, n), []byte(n))
	}
	before := m.snapshot(t)
	image := ukitest.Kiln("0.3.0").Build(t)
	v, err := Verify(image, m.env, Options{})
	if err != nil {
		t.Fatal(err)
	}
	name, err := Install(m.linux, v)
	if err != nil || name != "kiln-0.3.0+3.efi" {
		t.Fatalf("Install = %q, %v", name, err)
	}
	want := []string{"kiln-0.1.0.efi", "kiln-0.2.0.efi", "kiln-0.3.0+3.efi", "notes.txt"}
	if got := m.names(t); !slices.Equal(got, want) {
		t.Errorf("EFI/Linux holds %q, want %q", got, want)
	}
	if got, _ := os.ReadFile(filepath.Join(m.linux, name)); !bytes.Equal(got, image) {
		t.Error("the installed file is not the image")
	}
	after := m.snapshot(t)
	for _, keep := range []string{"EFI/Linux/kiln-0.1.0.efi", "EFI/Linux/kiln-0.2.0.efi", "EFI/Linux/notes.txt", DBAuthESP} {
		if before[keep] != after[keep] {
			t.Errorf("%s changed", keep)
		}
	}
	// The new UKI is what systemd-boot boots next, and it survives Cleanup.
	if removed, err := Cleanup(m.linux); err != nil || removed != nil {
		t.Errorf("Cleanup after a whole install = %q, %v", removed, err)
	}
}

func TestInstallRefuses(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, m *machine, v *Verified)
		want  error
	}{
		{"leftover temp file", func(t *testing.T, m *machine, v *Verified) {
			m.write(t, filepath.Join(m.linux, TempName), []byte("half"))
		}, ErrLeftover},
		{"final name is the booted UKI", func(t *testing.T, m *machine, v *Verified) {
			m.write(t, filepath.Join(m.linux, "kiln-0.3.0+3.efi"), []byte("booted"))
			v.Booted = "KILN-0.3.0+3.EFI" // FAT ignores case
		}, nil},
		{"booted UKI gone since Verify", func(t *testing.T, m *machine, v *Verified) {
			v.Booted = "kiln-0.2.1.efi"
		}, ErrBootedMissing},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newMachine(t)
			v, err := Verify(ukitest.Kiln("0.3.0").Build(t), m.env, Options{})
			if err != nil {
				t.Fatal(err)
			}
			c.setup(t, m, v)
			before := m.snapshot(t)
			_, err = Install(m.linux, v)
			var refusal *Error
			if !errors.As(err, &refusal) || refusal.Check != CheckESP || (c.want != nil && !errors.Is(err, c.want)) {
				t.Errorf("Install = %v, want a %q refusal (%v)", err, CheckESP, c.want)
			}
			if after := m.snapshot(t); !sameSnapshot(before, after) {
				t.Errorf("the ESP changed: %q -> %q", sortedKeys(before), sortedKeys(after))
			}
		})
	}
}

// TestLockRefusesConcurrentUpgrade: while one upgrade holds the lock, a
// second is refused at once, names the reason, and writes nothing.
func TestLockRefusesConcurrentUpgrade(t *testing.T) {
	m := newMachine(t)
	release, err := Lock()
	if err != nil {
		t.Fatal(err)
	}
	before := m.snapshot(t)
	second := func() error { // what machined's second Upgrade call does first
		rel, err := Lock()
		if err != nil {
			return err
		}
		defer rel()
		v, err := Verify(ukitest.Kiln("0.3.0").Build(t), m.env, Options{})
		if err != nil {
			return err
		}
		_, err = Install(m.linux, v)
		return err
	}
	err = second()
	var refusal *Error
	if !errors.As(err, &refusal) || refusal.Check != CheckBusy || !errors.Is(err, ErrInProgress) {
		t.Errorf("second upgrade = %v, want a busy refusal", err)
	}
	if after := m.snapshot(t); !sameSnapshot(before, after) {
		t.Errorf("the ESP changed: %q -> %q", sortedKeys(before), sortedKeys(after))
	}
	release()
	release() // idempotent: must not unlock someone else's lock
	if err := second(); err != nil {
		t.Errorf("upgrade after release = %v", err)
	}
	if rel, err := Lock(); err != nil {
		t.Errorf("lock after the second upgrade released it: %v", err)
	} else {
		rel()
	}
}
