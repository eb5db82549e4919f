package containers

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// An OCI image layout archive (image-spec image-layout.md) is read in two steps: it is
// spooled to a private file with a hard size limit, then checked whole (layout version,
// every referenced blob present with its digest and size, known media types, one
// linux/amd64 manifest per reference, every layer's uncompressed digest equal to the
// config's rootfs.diff_ids) before anything reaches containerd.

// Media types an archive may use (image-spec media-types.md, and Docker's schema 2,
// which image-spec declares compatible).
const (
	mediaDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mediaDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaDockerConfig   = "application/vnd.docker.container.image.v1+json"
	mediaDockerLayer    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

// maxJSONBlob bounds index.json, manifests and configs read into memory.
const maxJSONBlob = 4 << 20

// wantPlatform is the only platform a Kiln node runs.
const wantPlatform = "linux/amd64"

// blobEntry is one blob's place in the spooled archive.
type blobEntry struct {
	name   string // as in the archive, blobs/sha256/<hex>
	offset int64
	size   int64
}

// layer is one validated layer of an image.
type layer struct {
	desc   ocispec.Descriptor
	diffID digest.Digest
}

// archiveImage is one image found in an archive, checked.
type archiveImage struct {
	name     string
	manifest ocispec.Descriptor // the linux/amd64 manifest
	config   ocispec.Descriptor
	layers   []layer
}

// archive is a spooled, checked OCI layout.
type archive struct {
	file   *os.File
	blobs  map[digest.Digest]blobEntry
	images []archiveImage
}

// spool copies r into a new file under dir, failing as soon as it exceeds limit bytes.
// The file is unlinked at once: it lives as long as the returned descriptor.
func spool(dir string, r io.Reader, limit int64) (*os.File, error) {
	f, err := spoolFile(dir, "import-*.tar")
	if err != nil {
		return nil, err
	}
	n, err := io.Copy(f, io.LimitReader(r, limit+1))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read archive: %w", err)
	}
	if n > limit {
		f.Close()
		return nil, fmt.Errorf("%w: archive exceeds %d bytes", ErrInvalidArchive, limit)
	}
	return f, nil
}

// spoolFile creates a private file under dir (made 0700 if missing) and unlinks it at
// once: it lives as long as the returned descriptor, and a crash leaves nothing behind.
func spoolFile(dir, pattern string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// countingReader tells where in the spooled file the tar reader is: archive/tar reads
// whole 512-byte blocks and no further than the entry it returns, so after Next the
// count is the offset of the entry's data.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// readArchive indexes and checks the spooled layout in f.
func readArchive(f *os.File) (*archive, error) {
	a := &archive{file: f, blobs: map[digest.Digest]blobEntry{}}
	layout, index, err := a.scan()
	if err != nil {
		return nil, err
	}
	if err := checkLayout(layout); err != nil {
		return nil, err
	}
	if index == nil {
		return nil, errors.New("index.json: missing")
	}
	return a, a.readIndex(index)
}

// scan reads every tar entry once, hashing each blob as it goes (a truncated archive
// or a blob whose content is not its name fails here).
func (a *archive) scan() (layout, index []byte, err error) {
	if _, err := a.file.Seek(0, io.SeekStart); err != nil {
		return nil, nil, err
	}
	cr := &countingReader{r: a.file}
	tr := tar.NewReader(cr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return layout, index, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("archive: %w", err)
		}
		name := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		switch {
		case hdr.Typeflag == tar.TypeDir:
			continue
		case name == "oci-layout" || name == "index.json":
			b, err := readSmall(tr, name)
			if err != nil {
				return nil, nil, err
			}
			if name == "oci-layout" {
				layout = b
			} else {
				index = b
			}
		case strings.HasPrefix(name, "blobs/"):
			if err := a.addBlob(tr, hdr, name, cr.n); err != nil {
				return nil, nil, err
			}
		}
	}
}

func readSmall(r io.Reader, name string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxJSONBlob+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(b) > maxJSONBlob {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, maxJSONBlob)
	}
	return b, nil
}

func (a *archive) addBlob(tr *tar.Reader, hdr *tar.Header, name string, offset int64) error {
	if hdr.Typeflag != tar.TypeReg {
		return fmt.Errorf("%s: not a regular file (tar type %q)", name, hdr.Typeflag)
	}
	// A sparse entry's bytes in the archive are not its content, and blobs are read back
	// from the archive by offset.
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return fmt.Errorf("%s: a sparse tar entry; blobs must be plain files", name)
		}
	}
	hexPart, ok := strings.CutPrefix(name, "blobs/sha256/")
	if !ok || len(hexPart) != sha256.Size*2 || strings.Trim(hexPart, "0123456789abcdef") != "" {
		return fmt.Errorf("%s: not a sha256 blob name (blobs/sha256/<64 hex digits>)", name)
	}
	d := digest.Digest("sha256:" + hexPart)
	if _, dup := a.blobs[d]; dup {
		return fmt.Errorf("%s: twice in the archive", name)
	}
	h := sha256.New()
	n, err := io.Copy(h, tr)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if n != hdr.Size {
		return fmt.Errorf("%s: %d bytes read, the tar header says %d", name, n, hdr.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != hexPart {
		return fmt.Errorf("%s: digest mismatch (content is sha256:%s)", name, got)
	}
	a.blobs[d] = blobEntry{name: name, offset: offset, size: n}
	return nil
}

func checkLayout(b []byte) error {
	if b == nil {
		return errors.New("oci-layout: missing (not an OCI image layout archive)")
	}
	var l ocispec.ImageLayout
	if err := json.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("oci-layout: %w", err)
	}
	if l.Version != ocispec.ImageLayoutVersion {
		return fmt.Errorf("oci-layout: imageLayoutVersion %q, want %q", l.Version, ocispec.ImageLayoutVersion)
	}
	return nil
}

// open returns the blob d as the descriptor desc names it, checking its size; where says
// which document referenced it.
func (a *archive) open(desc ocispec.Descriptor, where string) (*io.SectionReader, error) {
	if err := desc.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("%s: digest %q: %w", where, desc.Digest, err)
	}
	b, ok := a.blobs[desc.Digest]
	if !ok {
		return nil, fmt.Errorf("%s: blobs/%s/%s is not in the archive", where, desc.Digest.Algorithm(), desc.Digest.Encoded())
	}
	if b.size != desc.Size {
		return nil, fmt.Errorf("%s: size %d, but %s references it with size %d", b.name, b.size, where, desc.Size)
	}
	return io.NewSectionReader(a.file, b.offset, b.size), nil
}

func (a *archive) readJSON(desc ocispec.Descriptor, where string, v any) error {
	if desc.Size > maxJSONBlob {
		return fmt.Errorf("%s: %s is %d bytes, more than %d", where, desc.Digest, desc.Size, maxJSONBlob)
	}
	r, err := a.open(desc, where)
	if err != nil {
		return err
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", a.blobs[desc.Digest].name, err)
	}
	return nil
}

func (a *archive) readIndex(b []byte) error {
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return fmt.Errorf("index.json: %w", err)
	}
	if len(idx.Manifests) == 0 {
		return errors.New("index.json: no manifests")
	}
	// Entries are grouped by name: an index.json may list one image's platforms side by
	// side, each with the same name and its platform.
	var names []string
	groups := map[string][]int{}
	for i, m := range idx.Manifests {
		name, err := refName(m.Annotations, fmt.Sprintf("index.json: manifests[%d]", i))
		if err != nil {
			return err
		}
		if groups[name] == nil {
			names = append(names, name)
		}
		groups[name] = append(groups[name], i)
	}
	for _, name := range names {
		at := groups[name]
		var img archiveImage
		var err error
		if first := idx.Manifests[at[0]]; len(at) == 1 && first.Platform == nil {
			img, err = a.resolve(first, fmt.Sprintf("index.json: manifests[%d]", at[0]))
		} else {
			img, err = a.pickPlatform(idx.Manifests, at, "index.json")
		}
		if err != nil {
			return err
		}
		img.name = name
		a.images = append(a.images, img)
	}
	return nil
}

// refName is the image's full reference. image-spec annotations.md defines
// org.opencontainers.image.ref.name; containerd's exporter puts the bare tag there and
// the full name in io.containerd.image.name.
func refName(ann map[string]string, where string) (string, error) {
	name := ann[ocispec.AnnotationRefName]
	if full := ann["io.containerd.image.name"]; full != "" && !isFullRef(name) {
		name = full
	}
	switch {
	case name == "":
		return "", fmt.Errorf("%s: no %s annotation: name the image when saving it (a full reference such as kiln.test/hello:1)", where, ocispec.AnnotationRefName)
	case !isFullRef(name):
		return "", fmt.Errorf("%s: %s is %q, a bare tag: the name must be a full reference such as registry.example/%s:%s (re-save the image with its full name)", where, ocispec.AnnotationRefName, name, "app", name)
	}
	return name, nil
}

// isFullRef reports whether ref names a repository, not just a tag: it holds a slash or
// a colon or @ after a name, and only reference characters.
func isFullRef(ref string) bool {
	if ref == "" || strings.ContainsAny(ref, " \t\n\"'") {
		return false
	}
	repo, _, _ := strings.Cut(ref, "@")
	return strings.Contains(repo, "/")
}

// resolve follows an index entry (a manifest or a nested index) to its one linux/amd64
// manifest, and checks that manifest, its config and its layers.
func (a *archive) resolve(desc ocispec.Descriptor, where string) (archiveImage, error) {
	switch desc.MediaType {
	case ocispec.MediaTypeImageManifest, mediaDockerManifest:
		return a.checkManifest(desc, where)
	case ocispec.MediaTypeImageIndex, mediaDockerList:
		var idx ocispec.Index
		if err := a.readJSON(desc, where, &idx); err != nil {
			return archiveImage{}, err
		}
		all := make([]int, len(idx.Manifests))
		for i := range all {
			all[i] = i
		}
		return a.pickPlatform(idx.Manifests, all, a.blobs[desc.Digest].name)
	default:
		return archiveImage{}, fmt.Errorf("%s: unknown media type %q", where, desc.MediaType)
	}
}

// pickPlatform chooses the linux/amd64 entry among the descriptors at positions at of an
// index: exactly one must exist. Other platforms' manifests need not be in the archive (a
// platform-filtered export leaves them out).
func (a *archive) pickPlatform(descs []ocispec.Descriptor, at []int, where string) (archiveImage, error) {
	i, err := platformEntry(descs, at, where)
	if err != nil {
		return archiveImage{}, err
	}
	return a.resolve(descs[i], fmt.Sprintf("%s: manifests[%d]", where, i))
}

// platformEntry is the position of the one linux/amd64 entry among the descriptors at
// positions at of an index; the error names the platforms found.
func platformEntry(descs []ocispec.Descriptor, at []int, where string) (int, error) {
	var found []string
	var pick []int
	for _, i := range at {
		m := descs[i]
		p := "unknown"
		if m.Platform != nil {
			p = m.Platform.OS + "/" + m.Platform.Architecture
			if m.Platform.Variant != "" {
				p += "/" + m.Platform.Variant
			}
			if m.Platform.OS == "linux" && m.Platform.Architecture == "amd64" {
				pick = append(pick, i)
			}
		}
		found = append(found, p)
	}
	switch len(pick) {
	case 0:
		sort.Strings(found)
		return 0, fmt.Errorf("%s: no %s manifest (found %s)", where, wantPlatform, strings.Join(found, ", "))
	case 1:
		return pick[0], nil
	default:
		return 0, fmt.Errorf("%s: %d %s manifests; an image must have exactly one", where, len(pick), wantPlatform)
	}
}

func (a *archive) checkManifest(desc ocispec.Descriptor, where string) (archiveImage, error) {
	var m ocispec.Manifest
	if err := a.readJSON(desc, where, &m); err != nil {
		return archiveImage{}, err
	}
	mwhere := a.blobs[desc.Digest].name
	switch m.Config.MediaType {
	case ocispec.MediaTypeImageConfig, mediaDockerConfig:
	default:
		return archiveImage{}, fmt.Errorf("%s: config: unknown media type %q", mwhere, m.Config.MediaType)
	}
	var cfg ocispec.Image
	if err := a.readJSON(m.Config, mwhere+": config", &cfg); err != nil {
		return archiveImage{}, err
	}
	cwhere := a.blobs[m.Config.Digest].name
	if p := cfg.OS + "/" + cfg.Architecture; p != wantPlatform {
		return archiveImage{}, fmt.Errorf("%s: platform %s; a Kiln node runs %s images only", cwhere, p, wantPlatform)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return archiveImage{}, fmt.Errorf("%s: %d rootfs.diff_ids for %d layers in %s", cwhere, len(cfg.RootFS.DiffIDs), len(m.Layers), mwhere)
	}
	img := archiveImage{manifest: desc, config: m.Config}
	img.manifest.Platform = &ocispec.Platform{OS: "linux", Architecture: "amd64"}
	for i, l := range m.Layers {
		lwhere := fmt.Sprintf("%s: layers[%d]", mwhere, i)
		if err := a.checkLayer(l, cfg.RootFS.DiffIDs[i], lwhere); err != nil {
			return archiveImage{}, err
		}
		img.layers = append(img.layers, layer{desc: l, diffID: cfg.RootFS.DiffIDs[i]})
	}
	return img, nil
}

// checkLayer decompresses the layer and compares its digest with the config's diff ID,
// which the unpacked snapshot's chain ID is made of.
func (a *archive) checkLayer(desc ocispec.Descriptor, diffID digest.Digest, where string) error {
	r, err := a.open(desc, where)
	if err != nil {
		return err
	}
	var u io.Reader
	switch desc.MediaType {
	case ocispec.MediaTypeImageLayer:
		u = r
	case ocispec.MediaTypeImageLayerGzip, mediaDockerLayer:
		gz, err := gzip.NewReader(r)
		if err != nil {
			return fmt.Errorf("%s: %w", a.blobs[desc.Digest].name, err)
		}
		defer gz.Close()
		u = gz
	case ocispec.MediaTypeImageLayerZstd:
		zr, err := zstd.NewReader(r)
		if err != nil {
			return fmt.Errorf("%s: %w", a.blobs[desc.Digest].name, err)
		}
		defer zr.Close()
		u = zr
	default:
		return fmt.Errorf("%s: unknown layer media type %q", where, desc.MediaType)
	}
	h := digest.SHA256.Digester()
	if _, err := io.Copy(h.Hash(), u); err != nil {
		return fmt.Errorf("%s: decompress: %w", a.blobs[desc.Digest].name, err)
	}
	if got := h.Digest(); got != diffID {
		return fmt.Errorf("%s: uncompressed content is %s, but the config's diff ID is %s", a.blobs[desc.Digest].name, got, diffID)
	}
	return nil
}
