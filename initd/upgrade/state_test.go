package upgrade

import (
	"os"
	"path/filepath"
	"testing"
)

func TestInspect(t *testing.T) {
	cases := []struct {
		name   string
		files  []string
		booted string
		want   State
	}{
		{name: "upgraded and blessed", files: []string{"kiln-0.1.0.efi", "kiln-0.1.1.efi"}, booted: "kiln-0.1.1.efi",
			want: State{Booted: "kiln-0.1.1.efi", Standby: "kiln-0.1.0.efi"}},
		{name: "fell back: the new one spent its tries", files: []string{"kiln-0.1.0.efi", "kiln-0.1.1+0-3.efi"}, booted: "kiln-0.1.0.efi",
			want: State{Booted: "kiln-0.1.0.efi", Failed: "kiln-0.1.1+0-3.efi"}},
		{name: "fell back after one refused try", files: []string{"kiln-0.0.9.efi", "kiln-0.1.0.efi", "kiln-0.1.1+2-1.efi"}, booted: "KILN-0.1.0.EFI",
			want: State{Booted: "kiln-0.1.0.efi", Standby: "kiln-0.0.9.efi", Failed: "kiln-0.1.1+2-1.efi"}},
		{name: "staged, untried: no fallback", files: []string{"kiln-0.1.0.efi", "kiln-0.1.1+3.efi"}, booted: "kiln-0.1.0.efi",
			want: State{Booted: "kiln-0.1.0.efi"}},
		{name: "booted counted entry sorts first", files: []string{"kiln-0.0.9.efi", "kiln-0.1.0+2-1.efi"}, booted: "kiln-0.1.0+2-1.efi",
			want: State{Booted: "kiln-0.1.0+2-1.efi", Standby: "kiln-0.0.9.efi"}},
		{name: "rolled back: the bad one is older evidence", files: []string{"kiln-0.1.0.efi", "kiln-0.0.9+0.efi"}, booted: "kiln-0.1.0.efi",
			want: State{Booted: "kiln-0.1.0.efi"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range c.files {
				if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := Inspect(dir, c.booted)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("Inspect = %+v, want %+v", got, c.want)
			}
		})
	}
	if _, err := Inspect(t.TempDir(), "kiln-0.1.0.efi"); err == nil {
		t.Error("Inspect of a directory without the booted UKI succeeded")
	}
}
