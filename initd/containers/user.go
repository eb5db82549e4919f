package containers

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	contentapi "github.com/containerd/containerd/api/services/content/v1"
	imagesapi "github.com/containerd/containerd/api/services/images/v1"
	"github.com/klauspost/compress/zstd"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// An image's USER may name a user or group (Dockerfile USER name[:group]); the runtime
// spec needs numbers (runtime-spec config.md, "user"). The names are looked up in the
// image's own /etc/passwd and /etc/group, read from its layers top down with the layer
// rules of image-spec layer.md (a whiteout .wh.<name> deletes a lower file, an opaque
// .wh..wh..opq hides a lower directory's content).

// maxAccountFile bounds /etc/passwd and /etc/group.
const maxAccountFile = 1 << 20

// isNumericUser reports whether USER needs no lookup: empty, uid or uid:gid.
func isNumericUser(u string) bool {
	_, err := imageUser(u)
	return err == nil
}

// resolveUser turns a USER with names into uid:gid from the image's files.
func (c *Client) resolveUser(ctx context.Context, img *imagesapi.Image, user string) (string, error) {
	m, err := c.manifest(ctx, img)
	if err != nil {
		return "", err
	}
	var layers []layerSource
	for i := len(m.Layers) - 1; i >= 0; i-- {
		desc := m.Layers[i]
		layers = append(layers, layerSource{mediaType: desc.MediaType, open: func() (io.ReadCloser, error) {
			return c.contentReader(ctx, desc.Digest.String())
		}})
	}
	files, err := findFiles(layers, []string{"etc/passwd", "etc/group"})
	if err != nil {
		return "", fmt.Errorf("image %s: %w", img.GetName(), err)
	}
	u, err := lookupUser(user, files["etc/passwd"], files["etc/group"])
	if err != nil {
		return "", fmt.Errorf("image %s: %w", img.GetName(), err)
	}
	return u, nil
}

// lookupUser resolves name[:group] (either part may be numeric) to uid:gid. A user
// without a group gets its passwd entry's group.
func lookupUser(user string, passwd, group []byte) (string, error) {
	name, grp, hasGroup := strings.Cut(user, ":")
	uid, gid, err := lookupPasswd(name, passwd)
	if err != nil {
		return "", fmt.Errorf("user %q: %w", user, err)
	}
	if hasGroup {
		if gid, err = lookupGroup(grp, group); err != nil {
			return "", fmt.Errorf("user %q: %w", user, err)
		}
	}
	return uid + ":" + gid, nil
}

func lookupPasswd(name string, passwd []byte) (uid, gid string, err error) {
	if _, err := strconv.ParseUint(name, 10, 32); err == nil {
		// A numeric uid keeps its passwd group when it has an entry, else group 0.
		for _, f := range accountLines(passwd, 7) {
			if f[2] == name {
				return name, f[3], nil
			}
		}
		return name, "0", nil
	}
	if passwd == nil {
		return "", "", errors.New("the image has no /etc/passwd to look the name up in")
	}
	for _, f := range accountLines(passwd, 7) {
		if f[0] == name {
			return f[2], f[3], nil
		}
	}
	return "", "", fmt.Errorf("no user %q in the image's /etc/passwd", name)
}

func lookupGroup(name string, group []byte) (string, error) {
	if _, err := strconv.ParseUint(name, 10, 32); err == nil {
		return name, nil
	}
	if group == nil {
		return "", errors.New("the image has no /etc/group to look the group up in")
	}
	for _, f := range accountLines(group, 4) {
		if f[0] == name {
			return f[2], nil
		}
	}
	return "", fmt.Errorf("no group %q in the image's /etc/group", name)
}

// accountLines splits passwd(5) or group(5) lines into n fields, skipping comments and
// lines whose id fields are not numbers.
func accountLines(b []byte, n int) [][]string {
	var out [][]string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.SplitN(line, ":", n)
		if len(f) < 3 || (n == 7 && len(f) < 4) {
			continue
		}
		if _, err := strconv.ParseUint(f[2], 10, 32); err != nil {
			continue
		}
		if n == 7 {
			if _, err := strconv.ParseUint(f[3], 10, 32); err != nil {
				continue
			}
		}
		out = append(out, f)
	}
	return out
}

// layerSource opens one layer's blob.
type layerSource struct {
	mediaType string
	open      func() (io.ReadCloser, error)
}

// findFiles reads the files named want (clean, relative) from layers, top layer first;
// a file absent from the image is not in the result.
func findFiles(layers []layerSource, want []string) (map[string][]byte, error) {
	found := map[string][]byte{}
	decided := map[string]bool{}
	for _, l := range layers {
		if len(decided) == len(want) {
			break
		}
		if err := scanLayer(l, want, found, decided); err != nil {
			return nil, err
		}
	}
	return found, nil
}

// scanLayer looks for the undecided files of want in one layer.
func scanLayer(l layerSource, want []string, found map[string][]byte, decided map[string]bool) error {
	rc, err := l.open()
	if err != nil {
		return err
	}
	defer rc.Close()
	r, err := decompress(l.mediaType, rc)
	if err != nil {
		return err
	}
	opaque := map[string]bool{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("layer: %w", err)
		}
		name := path.Clean(strings.TrimPrefix(strings.TrimPrefix(h.Name, "./"), "/"))
		dir, base := path.Split(name)
		dir = strings.TrimSuffix(dir, "/")
		if base == ".wh..wh..opq" {
			opaque[dir] = true
			continue
		}
		for _, w := range want {
			if decided[w] {
				continue
			}
			switch {
			case name == w && h.Typeflag == tar.TypeReg:
				b, err := io.ReadAll(io.LimitReader(tr, maxAccountFile))
				if err != nil {
					return fmt.Errorf("layer: %s: %w", w, err)
				}
				found[w], decided[w] = b, true
			case name == w, strings.HasPrefix(base, ".wh.") && hides(path.Join(dir, strings.TrimPrefix(base, ".wh.")), w):
				decided[w] = true // a link, a directory, or deleted: not a file to read
			}
		}
	}
	for _, w := range want {
		for d := path.Dir(w); d != "."; d = path.Dir(d) {
			if opaque[d] {
				decided[w] = true
			}
		}
	}
	return nil
}

// hides reports whether a whiteout of p deletes w (p is w or one of its directories).
func hides(p, w string) bool {
	return p == w || strings.HasPrefix(w, p+"/")
}

func decompress(mediaType string, r io.Reader) (io.Reader, error) {
	switch mediaType {
	case ocispec.MediaTypeImageLayer:
		return r, nil
	case ocispec.MediaTypeImageLayerGzip, mediaDockerLayer:
		return gzip.NewReader(r)
	case ocispec.MediaTypeImageLayerZstd:
		zr, err := zstd.NewReader(r)
		if err != nil {
			return nil, err
		}
		return zr.IOReadCloser(), nil
	default:
		return nil, fmt.Errorf("unknown layer media type %q", mediaType)
	}
}

// contentReader streams a blob from the content store.
func (c *Client) contentReader(ctx context.Context, dgst string) (io.ReadCloser, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.content.Read(c.ns(ctx), &contentapi.ReadContentRequest{Digest: dgst})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("content %s: %w", dgst, err)
	}
	return &streamReader{recv: stream.Recv, cancel: cancel, dgst: dgst}, nil
}

// streamReader reads a content Read stream's chunks.
type streamReader struct {
	recv   func() (*contentapi.ReadContentResponse, error)
	cancel context.CancelFunc
	dgst   string
	buf    []byte
}

func (s *streamReader) Read(p []byte) (int, error) {
	for len(s.buf) == 0 {
		resp, err := s.recv()
		if err == io.EOF {
			return 0, io.EOF
		}
		if err != nil {
			return 0, fmt.Errorf("content %s: %w", s.dgst, err)
		}
		s.buf = resp.GetData()
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	return n, nil
}

func (s *streamReader) Close() error {
	s.cancel()
	return nil
}
