package containers

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kiln-os/kiln/internal/ocilayout"
)

// FuzzReadArchive feeds untrusted archives to the checker: it must refuse or accept
// without panicking, and what it accepts names an image with its layers' diff IDs.
func FuzzReadArchive(f *testing.F) {
	for _, opts := range [][]ocilayout.Option{nil, {ocilayout.WithNestedIndex()}, {ocilayout.WithCorrupt(ocilayout.ImageCfg)}} {
		b, err := ocilayout.Build("kiln.test/fuzz:1", helloFiles, ocilayout.Config{Cmd: []string{"/bin/hello"}}, opts...) // hostdeps:node (a path in a container)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "a.tar")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		file, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer file.Close()
		a, err := readArchive(file)
		if err != nil {
			return
		}
		for _, img := range a.images {
			if !isFullRef(img.name) || img.manifest.Digest == "" {
				t.Errorf("accepted image %+v", img)
			}
			for _, l := range img.layers {
				if l.diffID == "" {
					t.Errorf("layer without diff ID: %+v", l)
				}
			}
		}
	})
}
