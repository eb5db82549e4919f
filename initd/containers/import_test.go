package containers

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/ocilayout"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var helloFiles = map[string]ocilayout.File{
	"bin/hello":  {Mode: 0o755, Data: []byte("\x7fELF not really")},
	"etc/motd":   {Mode: 0o644, Data: []byte("hi\n")},
	"bin/hi":     {Mode: fs.ModeSymlink, Data: []byte("hello")},
	"empty/dir/": {Mode: fs.ModeDir | 0o700},
}

func helloArchive(t *testing.T, ref string, opts ...ocilayout.Option) []byte {
	t.Helper()
	b, err := ocilayout.Build(ref, helloFiles, ocilayout.Config{Entrypoint: []string{"/bin/hello"}, Env: []string{"A=1"}}, opts...) // hostdeps:node (a path in a container)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestImportGood(t *testing.T) {
	f, c := newFake(t)
	ctx := context.Background()
	imgs, err := c.Import(ctx, bytes.NewReader(helloArchive(t, "kiln.test/hello:1")), MaxImportBytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 || imgs[0].Name != "kiln.test/hello:1" || imgs[0].Platform != "linux/amd64" || !strings.HasPrefix(imgs[0].Digest, "sha256:") {
		t.Fatalf("imported %+v", imgs)
	}
	f.mu.Lock()
	var total int64
	for _, b := range f.blobs {
		total += int64(len(b))
	}
	f.mu.Unlock()
	if imgs[0].Size != total {
		t.Errorf("size %d, the store holds %d bytes", imgs[0].Size, total)
	}
	for prefix, want := range map[string]int{"write ": 3, "prepare ": 1, "apply ": 1, "commit ": 1, "image create ": 1} {
		if got := f.count(prefix); got != want {
			t.Errorf("%d %q calls, want %d: %q", got, prefix, want, f.writes())
		}
	}
	if f.badNS {
		t.Error("a call came without the kiln namespace")
	}
	// GC labels: manifest → config and layer, config → top snapshot, layer → diff ID.
	man := f.images["kiln.test/hello:1"].GetTarget().GetDigest()
	if l := f.labels[man]; l[labelRefConfig] == "" || l[labelRefLayer+"0"] == "" {
		t.Errorf("manifest labels %v", l)
	}
	cfg := f.labels[f.labels[man][labelRefConfig]]
	if !f.committed[cfg[labelRefSnapshot]] {
		t.Errorf("config labels %v: no committed snapshot referenced", cfg)
	}
	if l := f.labels[f.labels[man][labelRefLayer+"0"]]; !strings.HasPrefix(l[labelUncompress], "sha256:") {
		t.Errorf("layer labels %v", l)
	}

	// The same archive again writes nothing new: blobs and snapshots are there.
	before := len(f.writes())
	if _, err := c.Import(ctx, bytes.NewReader(helloArchive(t, "kiln.test/hello:1")), MaxImportBytes); err != nil {
		t.Fatal(err)
	}
	for _, w := range f.writes()[before:] {
		if !strings.HasPrefix(w, "label ") && !strings.HasPrefix(w, "image update ") {
			t.Errorf("second import: %s", w)
		}
	}

	got, err := c.Image(ctx, "kiln.test/hello:1")
	if err != nil || got.Digest != imgs[0].Digest {
		t.Errorf("Image = %+v, %v", got, err)
	}
	if _, err := c.Image(ctx, "kiln.test/absent:1"); !errors.Is(err, ErrImageNotFound) || !strings.Contains(err.Error(), "kiln.test/absent:1") {
		t.Errorf("absent image: %v", err)
	}
	list, err := c.Images(ctx)
	if err != nil || len(list) != 1 {
		t.Errorf("Images = %+v, %v", list, err)
	}
	if v, err := c.Version(ctx); err != nil || v == "" {
		t.Errorf("Version = %q, %v", v, err)
	}
}

func TestImportNested(t *testing.T) {
	f, c := newFake(t)
	if _, err := c.Import(context.Background(), bytes.NewReader(helloArchive(t, "kiln.test/hello:2", ocilayout.WithNestedIndex())), MaxImportBytes); err != nil {
		t.Fatal(err)
	}
	if f.count("image create kiln.test/hello:2") != 1 {
		t.Errorf("calls %q", f.writes())
	}

	// index.json listing the image's platforms side by side: linux/amd64 is taken, and
	// the other platform's blobs need not be in the archive.
	sideBySide := helloArchive(t, "kiln.test/hello:3", ocilayout.WithEditIndex(func(i *ocispec.Index) {
		i.Manifests[0].Platform = &ocispec.Platform{OS: "linux", Architecture: "amd64"}
		arm := i.Manifests[0]
		arm.Platform = &ocispec.Platform{OS: "linux", Architecture: "arm64"}
		arm.Digest = digest.FromString("not here")
		i.Manifests = append([]ocispec.Descriptor{arm}, i.Manifests...)
	}))
	imgs, err := c.Import(context.Background(), bytes.NewReader(sideBySide), MaxImportBytes)
	if err != nil || len(imgs) != 1 || imgs[0].Name != "kiln.test/hello:3" {
		t.Fatalf("side by side: %+v, %v", imgs, err)
	}
}

func TestImportRejects(t *testing.T) {
	good := helloArchive(t, "kiln.test/hello:1")
	tests := []struct {
		name    string
		archive []byte
		limit   int64
		want    []string // all in the error
	}{
		{"truncated tar", good[:len(good)/2], MaxImportBytes, []string{"unexpected EOF"}},
		{"missing layer", helloArchive(t, "kiln.test/a:1", ocilayout.WithMissing(ocilayout.Layer)), MaxImportBytes,
			[]string{"layers[0]", "is not in the archive", "blobs/sha256/"}},
		{"missing manifest", helloArchive(t, "kiln.test/a:1", ocilayout.WithMissing(ocilayout.Manifest)), MaxImportBytes,
			[]string{"index.json: manifests[0]", "is not in the archive"}},
		{"digest mismatch", helloArchive(t, "kiln.test/a:1", ocilayout.WithCorrupt(ocilayout.Layer)), MaxImportBytes,
			[]string{"blobs/sha256/", "digest mismatch"}},
		{"over the limit", good, int64(len(good) - 1), []string{"archive exceeds"}},
		{"arm64 only", helloArchive(t, "kiln.test/a:1", ocilayout.WithPlatform("linux/arm64"), ocilayout.WithNestedIndex()), MaxImportBytes,
			[]string{"no linux/amd64 manifest (found linux/arm64)", "blobs/sha256/"}},
		{"arm64 in index.json", helloArchive(t, "kiln.test/a:1", ocilayout.WithEditIndex(func(i *ocispec.Index) {
			i.Manifests[0].Platform = &ocispec.Platform{OS: "linux", Architecture: "arm64"}
		})), MaxImportBytes, []string{"index.json: no linux/amd64 manifest (found linux/arm64)"}},
		{"arm64 config", helloArchive(t, "kiln.test/a:1", ocilayout.WithPlatform("linux/arm64")), MaxImportBytes,
			[]string{"platform linux/arm64", "blobs/sha256/"}},
		{"bare tag", helloArchive(t, "1"), MaxImportBytes, []string{"index.json: manifests[0]", `"1"`, "bare tag", "full reference"}},
		{"no ref name", helloArchive(t, ""), MaxImportBytes, []string{"index.json: manifests[0]", "org.opencontainers.image.ref.name"}},
		{"no manifests", helloArchive(t, "kiln.test/a:1", ocilayout.WithEditIndex(func(i *ocispec.Index) { i.Manifests = nil })), MaxImportBytes,
			[]string{"index.json: no manifests"}},
		{"unknown media type", helloArchive(t, "kiln.test/a:1", ocilayout.WithEditIndex(func(i *ocispec.Index) { i.Manifests[0].MediaType = "text/plain" })), MaxImportBytes,
			[]string{"index.json: manifests[0]", `unknown media type "text/plain"`}},
		{"wrong size", helloArchive(t, "kiln.test/a:1", ocilayout.WithEditIndex(func(i *ocispec.Index) { i.Manifests[0].Size++ })), MaxImportBytes,
			[]string{"blobs/sha256/", "index.json: manifests[0] references it with size"}},
		{"not a tar", []byte("hello"), MaxImportBytes, []string{"archive:"}},
		{"empty", nil, MaxImportBytes, []string{"oci-layout: missing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, c := newFake(t)
			_, err := c.Import(context.Background(), bytes.NewReader(tt.archive), tt.limit)
			if !errors.Is(err, ErrInvalidArchive) {
				t.Fatalf("Import = %v, want ErrInvalidArchive", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if w := f.writes(); len(w) != 0 {
				t.Errorf("wrote %q", w)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.calls) != 0 {
				t.Errorf("called containerd before the archive was checked: %q", f.calls)
			}
		})
	}
}

// A failure once writing has begun leaves no image record.
func TestImportFailsLeavesNoImage(t *testing.T) {
	f, c := newFake(t)
	f.failApply = true
	_, err := c.Import(context.Background(), bytes.NewReader(helloArchive(t, "kiln.test/hello:1")), MaxImportBytes)
	if err == nil || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), "kiln.test/hello:1") || errors.Is(err, ErrInvalidArchive) {
		t.Fatalf("err = %v, want the node's failure, not the archive's", err)
	}
	if len(f.images) != 0 {
		t.Errorf("images %v", f.images)
	}
	if f.count("remove kiln-unpack-") != 1 {
		t.Errorf("the unpack snapshot was not removed: %q", f.writes())
	}
	if f.calls[len(f.calls)-1] == "" || !strings.HasPrefix(f.calls[len(f.calls)-1], "lease delete") {
		t.Errorf("the lease was not deleted last: %q", f.calls)
	}
}

func TestOCITestDeterministic(t *testing.T) {
	a, b := helloArchive(t, "kiln.test/x:1"), helloArchive(t, "kiln.test/x:1")
	if !bytes.Equal(a, b) {
		t.Error("two builds differ")
	}
}

func TestChainIDs(t *testing.T) {
	// Worked example: chainID(1) = sha256("sha256:a… sha256:b…").
	l := []layer{{diffID: digest.Digest("sha256:" + strings.Repeat("a", 64))}, {diffID: digest.Digest("sha256:" + strings.Repeat("b", 64))}}
	got := chainIDs(l)
	if got[0] != l[0].diffID {
		t.Errorf("chain[0] = %s", got[0])
	}
	// printf 'sha256:aaaa…(64) sha256:bbbb…(64)' | sha256sum
	const want = "sha256:ccd722928bd92476ba1745586fed6e45a102504185ad88cd89e01ff116fd146c"
	if got[1].String() != want {
		t.Errorf("chain[1] = %s", got[1])
	}
}
