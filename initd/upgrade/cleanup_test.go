package upgrade

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/kiln-os/kiln/internal/ukitest"
)

// TestCleanupAfterCut simulates Install cut at its crash points and checks
// that Cleanup removes exactly the debris, leaving the booted and the
// previous UKI byte-identical.
func TestCleanupAfterCut(t *testing.T) {
	cases := []struct {
		name    string
		debris  func(t *testing.T, image []byte) map[string][]byte
		removed []string
	}{
		{"temp file half written", func(t *testing.T, image []byte) map[string][]byte {
			return map[string][]byte{TempName: image[:len(image)/2]}
		}, []string{TempName}},
		{"temp file whole, not yet renamed", func(t *testing.T, image []byte) map[string][]byte {
			return map[string][]byte{TempName: image}
		}, []string{TempName}},
		{"renamed, entry not yet written back (empty +3), temp file still there", func(t *testing.T, image []byte) map[string][]byte {
			return map[string][]byte{TempName: image, "kiln-0.3.0+3.efi": nil}
		}, []string{TempName, "kiln-0.3.0+3.efi"}},
		{"truncated +3", func(t *testing.T, image []byte) map[string][]byte {
			return map[string][]byte{"kiln-0.3.0+3.efi": image[:len(image)/2]}
		}, []string{"kiln-0.3.0+3.efi"}},
		{"+3 with a byte flipped", func(t *testing.T, image []byte) map[string][]byte {
			return map[string][]byte{"kiln-0.3.0+3.efi": ukitest.FlipInSection(t, image, ".linux")}
		}, []string{"kiln-0.3.0+3.efi"}},
		{"+3 not a PE", func(t *testing.T, image []byte) map[string][]byte {
			return map[string][]byte{"kiln-0.3.0+3.efi": []byte("garbage")}
		}, []string{"kiln-0.3.0+3.efi"}},
		{"whole +3 and a tried, truncated entry", func(t *testing.T, image []byte) map[string][]byte {
			// Only fresh entries are upgrade debris; a tried one was booted once.
			return map[string][]byte{"kiln-0.3.0+3.efi": image, "kiln-0.2.5+2-1.efi": image[:100]}
		}, nil},
		{"whole +3 signed by another key", func(t *testing.T, image []byte) map[string][]byte {
			u := ukitest.Kiln("0.3.0")
			u.Key = "other"
			return map[string][]byte{"kiln-0.3.0+3.efi": u.Build(t)}
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newMachine(t)
			keep := m.snapshot(t)
			debris := c.debris(t, ukitest.Kiln("0.3.0").Build(t))
			for name, data := range debris {
				m.write(t, filepath.Join(m.linux, name), data)
			}
			removed, err := Cleanup(m.linux)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(removed)
			if !slices.Equal(removed, c.removed) {
				t.Errorf("Cleanup removed %q, want %q", removed, c.removed)
			}
			after := m.snapshot(t)
			for path, sum := range keep {
				if after[path] != sum {
					t.Errorf("%s changed or went", path)
				}
			}
			for name := range debris {
				_, there := after[filepath.Join(LinuxDir, name)]
				if want := !slices.Contains(c.removed, name); there != want {
					t.Errorf("%s still there: %v, want %v", name, there, want)
				}
			}
		})
	}
}

// TestCleanupCrossLinked: a rename cut between its two directory writes
// leaves the temp name and the new one on one cluster chain; deleting
// either would free the other's clusters, so Cleanup deletes nothing.
func TestCleanupCrossLinked(t *testing.T) {
	image := ukitest.Kiln("0.3.0").Build(t)
	for _, twin := range []string{"kiln-0.3.0+3.efi", "kiln-0.3.0+2-1.efi"} { // the twin may have been tried since
		m := newMachine(t)
		m.write(t, filepath.Join(m.linux, TempName), image)
		m.write(t, filepath.Join(m.linux, twin), image)
		before := m.snapshot(t)
		sameBlock := func(string) (uint64, error) { return 4242, nil }
		removed, err := cleanup(m.linux, sameBlock)
		var refusal *Error
		if !errors.As(err, &refusal) || refusal.Check != CheckESP || !errors.Is(err, ErrCrossLinked) || removed != nil {
			t.Errorf("%s: cleanup = %q, %v; want ErrCrossLinked", twin, removed, err)
		}
		// Without FIBMAP (not vfat, or no CAP_SYS_RAWIO), equal contents count as shared.
		noFIBMAP := func(string) (uint64, error) { return 0, errors.New("FIBMAP: inappropriate ioctl") }
		if _, err := cleanup(m.linux, noFIBMAP); !errors.Is(err, ErrCrossLinked) {
			t.Errorf("%s: Cleanup without FIBMAP = %v; want ErrCrossLinked", twin, err)
		}
		if after := m.snapshot(t); !sameSnapshot(before, after) {
			t.Errorf("%s: the ESP changed", twin)
		}
		// Where FIBMAP says the chains differ, the temp file is a plain leftover.
		blocks := map[string]uint64{filepath.Join(m.linux, TempName): 100}
		distinct := func(p string) (uint64, error) { return blocks[p] + 1, nil }
		if removed, err := cleanup(m.linux, distinct); err != nil || !slices.Equal(removed, []string{TempName}) {
			t.Errorf("%s: cleanup with distinct chains = %q, %v", twin, removed, err)
		}
	}
}
