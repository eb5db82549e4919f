// Package k8s is the node's side of Kubernetes: the payload (finding, verifying and
// mounting the programs the signed root pins), and what the controllers derive from the
// machine config to run etcd, the control plane and the kubelet.
//
// It never trusts a byte of the payload that its pin (internal/kubepayload, in the signed
// root) does not vouch for: a payload is hashed whole before it is mounted, and a payload
// whose digest differs is refused, named, and not run.
package k8s

import (
	"cmp"
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

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/initd/mount"
	"github.com/kiln-os/kiln/internal/atomicfile"
	"github.com/kiln-os/kiln/internal/kubepayload"
)

// Errors of the payload.
var (
	// ErrNoPayload: no good copy of the pinned payload was found anywhere.
	ErrNoPayload = errors.New("no good copy of the Kubernetes payload")
	// ErrTampered: a payload's bytes differ from the pin.
	ErrTampered = errors.New("other bytes than the pin")
)

// Source is a place a missing payload is copied from: the ESP of the booted disk, the
// live medium, an imported file.
type Source interface {
	// Open returns the named payload file and its size; an error wrapping fs.ErrNotExist
	// when the source does not hold it.
	Open(name string) (io.ReadCloser, int64, error)
	String() string
}

// Payload is the payload of this image and where it lives on the node.
type Payload struct {
	Pin kubepayload.Pin
	// StoreDir holds verified copies, by pinned file name (on EPHEMERAL: /var/lib/kiln/kubernetes).
	StoreDir string
	// MountPoint is where the payload is mounted (/opt/kubernetes).
	MountPoint string
	// Sources are tried in order when StoreDir has no copy, or a copy that fails its check.
	Sources []Source
}

// Mounted says where the payload came from when Mount returned.
type Mounted struct {
	Path   string // the verified file that is mounted
	Copied string // the source it was copied from in this call; "" when the store had it
}

// Mount makes the pinned payload available at MountPoint, read-only: it takes the stored
// copy, or copies it from the first source that holds it, hashes the file it is about to
// mount and mounts exactly that open file. A stored copy that fails its check is replaced
// from the sources; when no source holds a good copy the error says what was found where.
// A payload already mounted there is left as it is.
func (p Payload) Mount() (Mounted, error) {
	if mounted, err := isMountPoint(p.MountPoint); err != nil || mounted {
		return Mounted{Path: p.storePath()}, err
	}
	f, copied, err := p.Open()
	if err != nil {
		return Mounted{}, err
	}
	defer f.Close()
	m := mount.Mount{Target: p.MountPoint, FSType: "squashfs", Flags: unix.MS_RDONLY | unix.MS_NODEV | unix.MS_NOSUID}
	if err := os.MkdirAll(p.MountPoint, 0o755); err != nil {
		return Mounted{}, err
	}
	if _, err := mount.Loop(f, m); err != nil {
		return Mounted{}, fmt.Errorf("mount the Kubernetes payload %s: %w", f.Name(), err)
	}
	return Mounted{Path: f.Name(), Copied: copied}, nil
}

// Open returns the stored copy, checked whole against the pin, positioned at its start:
// the file to mount. When the store has no good copy it copies one from the sources
// first and names the source it took.
func (p Payload) Open() (f *os.File, copied string, err error) {
	f, err = p.verifiedStore()
	if err == nil {
		return f, "", nil
	}
	stored := err
	if copied, err = p.copyFromSources(); err != nil {
		if errors.Is(stored, fs.ErrNotExist) {
			return nil, "", err // no stored copy yet: what the sources held is the news
		}
		return nil, "", fmt.Errorf("the stored copy: %w; %w", stored, err)
	}
	f, err = p.verifiedStore()
	return f, copied, err
}

func (p Payload) storePath() string { return filepath.Join(p.StoreDir, p.Pin.File) }

// verifiedStore opens the stored copy and checks it whole against the pin. The file it
// returns is the one that was hashed: the caller mounts it, not its path.
func (p Payload) verifiedStore() (*os.File, error) {
	f, err := os.Open(p.storePath())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoPayload, err)
	}
	if err := p.check(f, f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// check hashes r and compares its digest and length with the pin.
func (p Payload) check(r io.Reader, where string) error {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return fmt.Errorf("read %s: %w", where, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != p.Pin.SHA256 || n != p.Pin.Size {
		return fmt.Errorf("%w: %s has SHA-256 %s and %d bytes; the signed image pins %s and %d bytes",
			ErrTampered, where, sum, n, p.Pin.SHA256, p.Pin.Size)
	}
	return nil
}

// copyFromSources writes the first good copy found into the store, atomically: it is
// hashed on the way, and a copy that does not match is not kept. It returns the source.
func (p Payload) copyFromSources() (string, error) {
	var tried sourceErrors
	for _, src := range p.Sources {
		err := p.copyFrom(src)
		if err == nil {
			return src.String(), nil
		}
		if errors.Is(err, fs.ErrNotExist) {
			err = fmt.Errorf("%s holds no %s", src, p.Pin.File)
		}
		tried = append(tried, err)
	}
	if len(tried) == 0 {
		return "", fmt.Errorf("%w: no source to copy %s from (import it: kilnctl image import %s)", ErrNoPayload, p.Pin.File, p.Pin.File)
	}
	return "", fmt.Errorf("%w: %w (import it: kilnctl image import %s)", ErrNoPayload, tried, p.Pin.File)
}

// sourceErrors is what each source said, on one line.
type sourceErrors []error

func (e sourceErrors) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (e sourceErrors) Unwrap() []error { return e }

func (p Payload) copyFrom(src Source) error {
	r, size, err := src.Open(p.Pin.File)
	if err != nil {
		return err
	}
	defer r.Close()
	if size != p.Pin.Size {
		return fmt.Errorf("%w: %s holds %s with %d bytes; the signed image pins %d", ErrTampered, src, p.Pin.File, size, p.Pin.Size)
	}
	return p.Store(r, src.String())
}

// Payloads of other releases kept in the store beside the pinned one: the next release's
// (imported before an upgrade) and the previous one's (a rollback boots it again). A
// release's payload is about 60 MB; stagedMaxBytes bounds one the root does not pin.
const (
	stagedMax      = 2
	stagedMaxBytes = 1 << 30
)

// Imported is what Import stored.
type Imported struct {
	File, SHA256 string
	Size         int64
	Pinned       bool // this release's payload; else kept for the release that pins it
}

// Import stores a payload sent over the API (kilnctl image import). This release's is
// stored as Store stores it. Any other payload is kept for the release that pins it (an
// upgrade: import its payload, then upgrade), under the name the build gives it
// (kubepayload.FileName of its digest), without trust: that release hashes it whole
// against its own pin before it mounts it, as any copy. Only the stagedMax newest of
// those are kept. Nothing is left behind when the stream fails.
func (p Payload) Import(r io.Reader) (Imported, error) {
	if err := os.MkdirAll(p.StoreDir, 0o700); err != nil {
		return Imported{}, err
	}
	pending, err := atomicfile.Create(p.StoreDir, "import")
	if err != nil {
		return Imported{}, err
	}
	defer pending.Discard()
	limit := max(stagedMaxBytes, p.Pin.Size)
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(pending, h), io.LimitReader(r, limit+1))
	if err != nil {
		return Imported{}, fmt.Errorf("read the imported payload: %w", err)
	}
	if n > limit {
		return Imported{}, fmt.Errorf("the imported payload is over %d bytes", limit)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	imp := Imported{File: kubepayload.FileName(sum), SHA256: sum, Size: n, Pinned: sum == p.Pin.SHA256 && n == p.Pin.Size}
	if err := pending.Commit(imp.File, 0o600); err != nil {
		return Imported{}, err
	}
	return imp, p.pruneStaged()
}

// pruneStaged removes the payloads of other releases but the stagedMax newest.
func (p Payload) pruneStaged() error {
	entries, err := os.ReadDir(p.StoreDir)
	if err != nil {
		return err
	}
	type staged struct {
		name string
		mod  int64
	}
	var others []staged
	for _, e := range entries {
		name := e.Name()
		if name == p.Pin.File || !strings.HasPrefix(name, "kubernetes-") || !strings.HasSuffix(name, ".sqsh") {
			continue
		}
		if info, err := e.Info(); err == nil {
			others = append(others, staged{name, info.ModTime().UnixNano()})
		}
	}
	slices.SortFunc(others, func(a, b staged) int { return cmp.Compare(b.mod, a.mod) })
	var errs []error
	for _, o := range others[min(stagedMax, len(others)):] {
		if err := os.Remove(filepath.Join(p.StoreDir, o.name)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Store writes a payload read from r into the store, if and only if it matches the pin:
// it is hashed on the way into a pending file that becomes the stored copy only then.
// what names r in errors.
func (p Payload) Store(r io.Reader, what string) error {
	if err := os.MkdirAll(p.StoreDir, 0o700); err != nil {
		return err
	}
	pending, err := atomicfile.Create(p.StoreDir, "store")
	if err != nil {
		return err
	}
	defer pending.Discard()
	// One byte past the pinned size, so that a longer stream shows as one.
	if err := p.check(io.TeeReader(io.LimitReader(r, p.Pin.Size+1), pending), what); err != nil {
		return err
	}
	return pending.Commit(p.Pin.File, 0o600)
}

// isMountPoint reports whether dir is a mount point (its device differs from its
// parent's); false when it does not exist.
func isMountPoint(dir string) (bool, error) {
	var st, parent unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, &os.PathError{Op: "stat", Path: dir, Err: err}
	}
	if err := unix.Stat(filepath.Dir(dir), &parent); err != nil {
		return false, &os.PathError{Op: "stat", Path: filepath.Dir(dir), Err: err}
	}
	return st.Dev != parent.Dev, nil
}
