package containers

import (
	"archive/tar"
	"bytes"
	"io"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// plainLayer is an uncompressed layer holding files (name → content; "" for a
// whiteout or marker file).
func plainLayer(t *testing.T, files ...string) layerSource {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		name, data, _ := strings.Cut(f, "=")
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(data))
	}
	tw.Close()
	b := buf.Bytes()
	return layerSource{mediaType: ocispec.MediaTypeImageLayer, open: func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}}
}

func TestFindFilesWhiteouts(t *testing.T) {
	base := plainLayer(t, "etc/passwd=base-passwd", "./etc/group=base-group")
	tests := []struct {
		name string
		top  layerSource
		want map[string]string
	}{
		{"lower layer", plainLayer(t, "bin/x=1"), map[string]string{"etc/passwd": "base-passwd", "etc/group": "base-group"}},
		{"upper wins", plainLayer(t, "etc/passwd=top"), map[string]string{"etc/passwd": "top", "etc/group": "base-group"}},
		{"whiteout", plainLayer(t, "etc/.wh.passwd="), map[string]string{"etc/group": "base-group"}},
		{"opaque dir", plainLayer(t, "etc/.wh..wh..opq=", "etc/group=top"), map[string]string{"etc/group": "top"}},
		{"dir whiteout", plainLayer(t, ".wh.etc="), map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := findFiles([]layerSource{tt.top, base}, []string{"etc/passwd", "etc/group"})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Errorf("found %q, want %q", got, tt.want)
			}
			for k, v := range tt.want {
				if string(got[k]) != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestLookupUser(t *testing.T) {
	passwd := []byte("# comment\nroot:x:0:0::/root:/bin/sh\nweb:x:1000:1001::/:/bin/false\nbad:x:abc:1::/:/x\n")
	group := []byte("root:x:0:\nstaff:x:50:web\n")
	tests := []struct{ user, want, err string }{
		{"web", "1000:1001", ""},
		{"web:staff", "1000:50", ""},
		{"web:7", "1000:7", ""},
		{"1000", "1000:1001", ""},
		{"4242", "4242:0", ""},
		{"4242:staff", "4242:50", ""},
		{"nobody", "", `no user "nobody"`},
		{"bad", "", `no user "bad"`},
		{"web:wheel", "", `no group "wheel"`},
	}
	for _, tt := range tests {
		got, err := lookupUser(tt.user, passwd, group)
		if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("lookupUser(%q) = %q, %v; want %q, %q", tt.user, got, err, tt.want, tt.err)
		}
	}
	if _, err := lookupUser("web", nil, nil); err == nil || !strings.Contains(err.Error(), "no /etc/passwd") {
		t.Errorf("no passwd: %v", err)
	}
}

// FuzzUserFiles feeds untrusted layer and account-file bytes to the lookup: it must not
// panic, and a resolved user is two numbers.
func FuzzUserFiles(f *testing.F) {
	f.Add([]byte("root:x:0:0::/root:/bin/sh\n"), []byte("root:x:0:\n"), "root:root")
	f.Add([]byte("a:b:c:d\n::::\n"), []byte(":::"), "a")
	f.Fuzz(func(t *testing.T, passwd, group []byte, user string) {
		if u, err := lookupUser(user, passwd, group); err == nil {
			if _, err := imageUser(u); err != nil {
				t.Errorf("lookupUser(%q) = %q: %v", user, u, err)
			}
		}
		l := layerSource{mediaType: ocispec.MediaTypeImageLayer, open: func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(passwd)), nil
		}}
		findFiles([]layerSource{l}, []string{"etc/passwd"}) //nolint:errcheck // only panics matter
	})
}
