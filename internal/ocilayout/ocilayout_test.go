package ocilayout

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"io/fs"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// untar returns the archive's regular files by name.
func untar(t *testing.T, b []byte) map[string]*tar.Header {
	t.Helper()
	out := map[string]*tar.Header{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = h
	}
}

func TestBuildLayout(t *testing.T) {
	files := map[string]File{
		"bin/app":  {Mode: 0o755, Data: []byte("app")},
		"etc/conf": {Mode: 0o600, Data: []byte("x=1\n")},
		"bin/link": {Mode: fs.ModeSymlink, Data: []byte("app")},
	}
	b, err := Build("kiln.test/app:1", files, Config{Entrypoint: []string{"/bin/app"}}) // hostdeps:node (a path in a container)
	if err != nil {
		t.Fatal(err)
	}
	entries := untar(t, b)
	if entries["oci-layout"] == nil || entries["index.json"] == nil {
		t.Fatalf("entries %v", entries)
	}
	var index ocispec.Index
	tr := tar.NewReader(bytes.NewReader(b))
	blobs := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		data, _ := io.ReadAll(tr)
		if h.Name == "index.json" {
			json.Unmarshal(data, &index)
		}
		if d, ok := strings.CutPrefix(h.Name, "blobs/sha256/"); ok && d != "" {
			blobs["sha256:"+d] = data
		}
	}
	if got := index.Manifests[0].Annotations[ocispec.AnnotationRefName]; got != "kiln.test/app:1" {
		t.Errorf("ref name %q", got)
	}
	var man ocispec.Manifest
	json.Unmarshal(blobs[index.Manifests[0].Digest.String()], &man)
	zr, err := gzip.NewReader(bytes.NewReader(blobs[man.Layers[0].Digest.String()]))
	if err != nil {
		t.Fatal(err)
	}
	layer, _ := io.ReadAll(zr)
	got := untar(t, layer)
	want := map[string]int64{"bin/": 0o755, "bin/app": 0o755, "bin/link": 0o777, "etc/": 0o755, "etc/conf": 0o600}
	for name, mode := range want {
		if got[name] == nil || got[name].Mode != mode || got[name].Uid != 0 || !got[name].ModTime.Equal(got["bin/"].ModTime) {
			t.Errorf("%s: %+v, want mode %o", name, got[name], mode)
		}
	}
	if got["bin/link"].Linkname != "app" {
		t.Errorf("link %+v", got["bin/link"])
	}
	if _, err := Build("x/y:1", map[string]File{"../escape": {}}, Config{}); err == nil {
		t.Error("a path outside the image was accepted")
	}
}
