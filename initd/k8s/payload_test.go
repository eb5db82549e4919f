package k8s

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/kiln-os/kiln/internal/kubepayload"
)

// memSource is a Source holding files in memory.
type memSource struct {
	name  string
	files map[string][]byte
}

func (m memSource) Open(name string) (io.ReadCloser, int64, error) {
	data, ok := m.files[name]
	if !ok {
		return nil, 0, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	return io.NopCloser(bytes.NewReader(data)), int64(len(data)), nil
}

func (m memSource) String() string { return m.name }

func pinFor(data []byte) kubepayload.Pin {
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	return kubepayload.Pin{File: kubepayload.FileName(digest), SHA256: digest, Size: int64(len(data))}
}

func readAll(t *testing.T, f *os.File) []byte {
	t.Helper()
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// A missing payload is copied from the first source that holds it, verified, and then
// found in the store without a copy.
func TestOpenCopiesFromSource(t *testing.T) {
	payload := []byte("squashfs image of the payload")
	pin := pinFor(payload)
	p := Payload{Pin: pin, StoreDir: t.TempDir(), Sources: []Source{
		memSource{"empty ESP", nil},
		memSource{"ESP", map[string][]byte{pin.File: payload}},
	}}
	f, copied, err := p.Open()
	if err != nil {
		t.Fatal(err)
	}
	if copied != "ESP" || !bytes.Equal(readAll(t, f), payload) {
		t.Errorf("Open copied from %q", copied)
	}
	f, copied, err = p.Open()
	if err != nil || copied != "" {
		t.Fatalf("second Open: copied %q, %v; want the stored copy", copied, err)
	}
	f.Close()
}

// A tampered source is refused and nothing is stored; the error names the source, both
// digests and what to do.
func TestOpenRefusesTamperedSource(t *testing.T) {
	payload := []byte("squashfs image of the payload")
	pin := pinFor(payload)
	tampered := bytes.Clone(payload)
	tampered[3] ^= 1
	store := t.TempDir()
	p := Payload{Pin: pin, StoreDir: store, Sources: []Source{memSource{"ESP", map[string][]byte{pin.File: tampered}}}}
	_, _, err := p.Open()
	if !errors.Is(err, ErrTampered) || !errors.Is(err, ErrNoPayload) {
		t.Fatalf("Open = %v, want ErrTampered and ErrNoPayload", err)
	}
	for _, want := range []string{"ESP", pin.SHA256, "kilnctl image import"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	// The empty store is not news on a first start: the error is about the ESP's copy.
	if strings.Contains(err.Error(), "no such file") || strings.Count(err.Error(), "Kubernetes payload") != 1 {
		t.Errorf("error %q: want only what the ESP held, said once", err)
	}
	if entries, _ := os.ReadDir(store); len(entries) != 0 {
		t.Errorf("a refused payload left %v in the store", entries)
	}
}

// A stored copy changed after it was stored (EPHEMERAL is not integrity-protected) is
// refused and replaced by a good copy from a source.
func TestOpenReplacesTamperedStore(t *testing.T) {
	payload := []byte("squashfs image of the payload")
	pin := pinFor(payload)
	store := t.TempDir()
	os.WriteFile(filepath.Join(store, pin.File), append(bytes.Clone(payload), '!'), 0o600)
	p := Payload{Pin: pin, StoreDir: store, Sources: []Source{memSource{"ESP", map[string][]byte{pin.File: payload}}}}
	f, copied, err := p.Open()
	if err != nil || copied != "ESP" {
		t.Fatalf("Open: copied %q, %v", copied, err)
	}
	if !bytes.Equal(readAll(t, f), payload) {
		t.Error("the stored copy was not replaced")
	}
}

// With a bad stored copy and no source, the error says both.
func TestOpenNoSource(t *testing.T) {
	payload := []byte("payload")
	pin := pinFor(payload)
	store := t.TempDir()
	os.WriteFile(filepath.Join(store, pin.File), []byte("other"), 0o600)
	_, _, err := Payload{Pin: pin, StoreDir: store}.Open()
	if !errors.Is(err, ErrTampered) || !errors.Is(err, ErrNoPayload) || !strings.Contains(err.Error(), "no source") {
		t.Fatalf("Open = %v", err)
	}
}

// Store keeps a stream only when it matches the pin, longer and shorter ones included.
func TestStore(t *testing.T) {
	payload := []byte("payload bytes")
	pin := pinFor(payload)
	for _, tc := range []struct {
		name string
		data []byte
		ok   bool
	}{
		{"exact", payload, true},
		{"longer", append(bytes.Clone(payload), 'x'), false},
		{"shorter", payload[:5], false},
	} {
		store := t.TempDir()
		err := Payload{Pin: pin, StoreDir: store}.Store(bytes.NewReader(tc.data), "upload")
		_, statErr := os.Stat(filepath.Join(store, pin.File))
		if tc.ok != (err == nil) || tc.ok != (statErr == nil) {
			t.Errorf("%s: Store = %v, stored: %v", tc.name, err, statErr == nil)
		}
		if leftovers, _ := filepath.Glob(filepath.Join(store, ".*")); len(leftovers) != 0 {
			t.Errorf("%s: left %v", tc.name, leftovers)
		}
	}
}

// Import stores this release's payload under its pin, and another release's (an
// upgrade's) under the name its digest gives, untrusted until that release mounts it;
// only the newest two of those stay, and the pinned one is never pruned.
func TestImport(t *testing.T) {
	current := []byte("this release's payload")
	p := Payload{Pin: pinFor(current), StoreDir: t.TempDir()}
	imp, err := p.Import(bytes.NewReader(current))
	if err != nil || !imp.Pinned || imp.File != p.Pin.File {
		t.Fatalf("import of the pinned payload: %+v, %v", imp, err)
	}
	if f, err := p.verifiedStore(); err != nil {
		t.Fatalf("the imported payload is not in the store: %v", err)
	} else {
		f.Close()
	}
	var names []string
	for i := range 3 {
		next := fmt.Appendf(nil, "payload of release %d", i)
		imp, err := p.Import(bytes.NewReader(next))
		if err != nil || imp.Pinned || imp.File != pinFor(next).File || imp.SHA256 != pinFor(next).SHA256 {
			t.Fatalf("import of another release's payload: %+v, %v", imp, err)
		}
		names = append(names, imp.File)
		// The next release finds it in the store and checks it against its own pin.
		if f, err := (Payload{Pin: pinFor(next), StoreDir: p.StoreDir}).verifiedStore(); err != nil {
			t.Errorf("release %d's payload is not usable from the store: %v", i, err)
		} else {
			f.Close()
		}
		// Distinct modification times order them.
		os.Chtimes(filepath.Join(p.StoreDir, imp.File), time.Now(), time.Now().Add(time.Duration(i)*time.Second))
	}
	if err := p.pruneStaged(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(p.StoreDir)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	want := []string{p.Pin.File, names[1], names[2]}
	slices.Sort(want)
	if !slices.Equal(left, want) {
		t.Errorf("store holds %v, want %v (the pinned one and the newest two others)", left, want)
	}
	// A stream that fails leaves nothing.
	if _, err := p.Import(io.MultiReader(strings.NewReader("partial"), iotest.ErrReader(errors.New("connection reset")))); err == nil {
		t.Error("a failed stream was imported")
	}
	if after, _ := os.ReadDir(p.StoreDir); len(after) != len(entries) {
		t.Errorf("a failed import left files: %d entries, had %d", len(after), len(entries))
	}
}
