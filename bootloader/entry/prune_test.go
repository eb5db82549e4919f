package entry

import (
	"errors"
	"slices"
	"testing"
)

func TestPrune(t *testing.T) {
	cases := []struct {
		name    string
		files   []string
		keep    int
		booted  string
		removed []string
	}{
		{"keep the running and the previous one",
			[]string{"kiln-0.3.0.efi", "kiln-0.2.0.efi", "kiln-0.1.0.efi"}, 2, "kiln-0.3.0.efi",
			[]string{"kiln-0.1.0.efi"}},
		{"a fresh upgrade counts as good",
			[]string{"kiln-0.4.0+3.efi", "kiln-0.3.0.efi", "kiln-0.2.0.efi", "kiln-0.1.0+0-3.efi"}, 2, "kiln-0.3.0.efi",
			[]string{"kiln-0.2.0.efi", "kiln-0.1.0+0-3.efi"}},
		{"a failed newer one stays, nothing older than the kept",
			[]string{"kiln-0.3.0+0-3.efi", "kiln-0.2.0.efi", "kiln-0.1.0.efi"}, 2, "kiln-0.2.0.efi",
			nil},
		{"never the booted one",
			[]string{"kiln-0.3.0.efi", "kiln-0.2.0.efi", "kiln-0.1.0.efi"}, 2, "KILN-0.1.0.EFI",
			nil},
		{"keep 1",
			[]string{"kiln-0.2.0.efi", "kiln-0.1.0.efi", "kiln-0.0.9+0-3.efi"}, 1, "kiln-0.2.0.efi",
			[]string{"kiln-0.1.0.efi", "kiln-0.0.9+0-3.efi"}},
		{"fewer good ones than keep",
			[]string{"kiln-0.2.0.efi", "kiln-0.1.0+0-3.efi"}, 2, "kiln-0.2.0.efi",
			nil},
		{"only Kiln's canonical names",
			[]string{"kiln-0.3.0.efi", "kiln-0.2.0.efi", "other-0.1.efi", "kiln-0.0.1+03.efi", "kiln-notes.txt", "kiln-0.1.0.efi"},
			2, "kiln-0.3.0.efi",
			[]string{"kiln-0.1.0.efi"}},
	}
	for _, c := range cases {
		dir := linuxDir(t, c.files...)
		removed, err := Prune(dir, c.keep, c.booted)
		if err != nil || !slices.Equal(removed, c.removed) {
			t.Errorf("%s: Prune = %q, %v; want %q", c.name, removed, err, c.removed)
			continue
		}
		var want []string
		for _, f := range c.files {
			if !slices.Contains(c.removed, f) {
				want = append(want, f)
			}
		}
		slices.Sort(want)
		if got := dirNames(t, dir); !slices.Equal(got, want) {
			t.Errorf("%s: directory holds %q, want %q", c.name, got, want)
		}
	}
}

func TestPruneRefuses(t *testing.T) {
	files := []string{"kiln-0.3.0.efi", "kiln-0.2.0.efi", "kiln-0.1.0.efi"}
	dir := linuxDir(t, files...)
	if _, err := Prune(dir, 2, "kiln-0.9.0.efi"); !errors.Is(err, ErrBooted) {
		t.Errorf("unknown booted entry: %v, want ErrBooted", err)
	}
	if _, err := Prune(dir, 0, "kiln-0.3.0.efi"); err == nil {
		t.Error("keep 0 accepted")
	}
	if got := dirNames(t, dir); len(got) != 3 {
		t.Errorf("a refused Prune removed files: %q", got)
	}
}
