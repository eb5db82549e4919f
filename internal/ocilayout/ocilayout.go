// Package ocilayout builds small OCI image layout archives (image-spec image-layout.md):
// one gzip layer of given files, a config, a manifest and an index.json naming the image,
// as a tar, byte for byte the same for the same inputs. The pipeline builds the
// Kubernetes payload's sandbox image with it; tests build their images with it, and its
// options break an archive in the ways an import must refuse.
//
// It holds the whole archive in memory: it is for images of a few megabytes.
package ocilayout

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// File is one file of the layer. Mode holds the permission bits and, for a directory or
// a symbolic link, fs.ModeDir or fs.ModeSymlink; a link's Data is its target.
type File struct {
	Mode fs.FileMode
	Data []byte
}

// Config is the image config's runtime part.
type Config struct {
	Entrypoint []string
	Cmd        []string
	Env        []string
	User       string
	WorkingDir string
}

// Blob names one of the archive's blobs for WithCorrupt and WithMissing.
type Blob string

// The archive's blobs.
const (
	Layer    Blob = "layer"
	ImageCfg Blob = "config"
	Manifest Blob = "manifest"
)

// Option changes how Build writes the archive.
type Option func(*options)

type options struct {
	platform  ocispec.Platform
	nested    bool
	corrupt   map[Blob]bool
	missing   map[Blob]bool
	editIndex func(*ocispec.Index)
}

// WithPlatform sets the image's platform (os/architecture), linux/amd64 by default.
func WithPlatform(p string) Option {
	return func(o *options) {
		osName, arch, _ := strings.Cut(p, "/")
		o.platform = ocispec.Platform{OS: osName, Architecture: arch}
	}
}

// WithNestedIndex puts the manifest behind a nested image index with a platform, as
// multi-platform images are.
func WithNestedIndex() Option { return func(o *options) { o.nested = true } }

// WithCorrupt flips a byte of blob b's content, keeping its name and size.
func WithCorrupt(b Blob) Option { return func(o *options) { o.corrupt[b] = true } }

// WithMissing leaves blob b out of the archive.
func WithMissing(b Blob) Option { return func(o *options) { o.missing[b] = true } }

// WithEditIndex lets a test change index.json before it is written.
func WithEditIndex(edit func(*ocispec.Index)) Option {
	return func(o *options) { o.editIndex = edit }
}

// Build returns an OCI layout tar of one image named ref (set as the index entry's
// org.opencontainers.image.ref.name) with one layer holding files.
func Build(ref string, files map[string]File, cfg Config, opts ...Option) ([]byte, error) {
	o := &options{platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		corrupt: map[Blob]bool{}, missing: map[Blob]bool{}}
	for _, opt := range opts {
		opt(o)
	}
	layerTar, err := layerTar(files)
	if err != nil {
		return nil, err
	}
	layerGz, err := gzipped(layerTar)
	if err != nil {
		return nil, err
	}
	img := ocispec.Image{
		Platform: o.platform,
		Config: ocispec.ImageConfig{
			Entrypoint: cfg.Entrypoint, Cmd: cfg.Cmd, Env: cfg.Env,
			User: cfg.User, WorkingDir: cfg.WorkingDir,
		},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromBytes(layerTar)}},
	}
	cfgJSON, err := json.Marshal(img)
	if err != nil {
		return nil, err
	}
	blobs := map[digest.Digest][]byte{}
	add := func(kind Blob, mediaType string, b []byte) ocispec.Descriptor {
		d := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
		if o.corrupt[kind] {
			b = bytes.Clone(b)
			b[len(b)/2] ^= 0xff
		}
		if !o.missing[kind] {
			blobs[d.Digest] = b
		}
		return d
	}
	man := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    add(ImageCfg, ocispec.MediaTypeImageConfig, cfgJSON),
		Layers:    []ocispec.Descriptor{add(Layer, ocispec.MediaTypeImageLayerGzip, layerGz)},
	}
	manJSON, err := json.Marshal(man)
	if err != nil {
		return nil, err
	}
	top := add(Manifest, ocispec.MediaTypeImageManifest, manJSON)
	if o.nested {
		top.Platform = &o.platform
		nested := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{top}}
		b, err := json.Marshal(nested)
		if err != nil {
			return nil, err
		}
		top = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(b), Size: int64(len(b))}
		blobs[top.Digest] = b
	}
	top.Annotations = map[string]string{ocispec.AnnotationRefName: ref}
	index := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{top}}
	if o.editIndex != nil {
		o.editIndex(&index)
	}
	return layout(index, blobs)
}

// layout writes the layout tar: oci-layout, index.json, then the blobs by digest.
func layout(index ocispec.Index, blobs map[digest.Digest][]byte) ([]byte, error) {
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return nil, err
	}
	layoutJSON, err := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(header(d, tar.TypeDir, 0o755, 0)); err != nil {
			return nil, err
		}
	}
	entries := []struct {
		name string
		data []byte
	}{{"oci-layout", layoutJSON}, {"index.json", indexJSON}}
	var names []digest.Digest
	for d := range blobs {
		names = append(names, d)
	}
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	for _, d := range names {
		entries = append(entries, struct {
			name string
			data []byte
		}{"blobs/sha256/" + d.Encoded(), blobs[d]})
	}
	for _, e := range entries {
		if err := tw.WriteHeader(header(e.name, tar.TypeReg, 0o644, int64(len(e.data)))); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// header is a reproducible tar header: owner 0, time 0.
func header(name string, typ byte, mode int64, size int64) *tar.Header {
	return &tar.Header{Name: name, Typeflag: typ, Mode: mode, Size: size,
		ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
}

// layerTar is the layer's tar: every parent directory, then the files, sorted.
func layerTar(files map[string]File) ([]byte, error) {
	all := map[string]File{}
	for name, f := range files {
		clean := path.Clean(strings.TrimPrefix(name, "/"))
		if clean == "." || strings.HasPrefix(clean, "../") || clean == ".." {
			return nil, fmt.Errorf("ocilayout: file %q: not a path inside the image", name)
		}
		all[clean] = f
		for d := path.Dir(clean); d != "."; d = path.Dir(d) {
			if _, ok := all[d]; !ok {
				all[d] = File{Mode: fs.ModeDir | 0o755}
			}
		}
	}
	var names []string
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		if err := writeFile(tw, n, all[n]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeFile(tw *tar.Writer, name string, f File) error {
	perm := int64(f.Mode.Perm())
	switch {
	case f.Mode&fs.ModeDir != 0:
		return tw.WriteHeader(header(name+"/", tar.TypeDir, perm, 0))
	case f.Mode&fs.ModeSymlink != 0:
		h := header(name, tar.TypeSymlink, 0o777, 0)
		h.Linkname = string(f.Data)
		return tw.WriteHeader(h)
	}
	if err := tw.WriteHeader(header(name, tar.TypeReg, perm, int64(len(f.Data)))); err != nil {
		return err
	}
	_, err := tw.Write(f.Data)
	return err
}

// gzipped compresses b with no name or time in the gzip header.
func gzipped(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
