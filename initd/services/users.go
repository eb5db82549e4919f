package services

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// apid and trustd run as users of their own, so that a compromised API process can neither
// read STATE nor reach the TPM; only apid's user may open machined's socket, and only
// trustd's user may read the OS CA key (an apid that could would mint admin certificates).
// Their files live under /run/kiln: /system is 0700 root, out of their reach.
const (
	APIDPort   = "50000"
	TrustdPort = "50001"
	// APICertTTL is how long an API certificate issued on the node is valid.
	APICertTTL = 365 * 24 * time.Hour
)

// User is who runs apid or trustd and where its secrets live.
type User struct {
	UID, GID int
	Dir      string
}

// The users of apid and trustd.
var (
	APIDUser   = User{UID: 50, GID: 50, Dir: "/run/kiln/apid"}
	TrustdUser = User{UID: 51, GID: 51, Dir: "/run/kiln/trustd"}
)

// dirMode is the user's directory: the services only read their secrets, so the
// directory stays machined's (root's) and the user's group may only list and enter it.
// A user that cannot write it cannot plant a symlink where root writes.
const dirMode = 0o750

// Path is a file in the user's directory.
func (u User) Path(name string) string { return filepath.Join(u.Dir, name) }

// WriteSecrets writes files (atomically) into the user's directory, each owned by the
// user and readable only by it.
//
// Nothing here follows a name a service user could have changed: the directory is
// opened with O_NOFOLLOW and changed through its descriptor, and each file is made,
// chowned and chmodded through its own descriptor before a rename gives it its name.
// So even a directory the user could write would not lend root's chown to a symlink.
func (u User) WriteSecrets(files map[string][]byte) error {
	dir, err := u.openDir()
	if err != nil {
		return err
	}
	defer dir.Close()
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if err := u.writeSecret(dir, name, files[name]); err != nil {
			return err
		}
	}
	// fsync(2) on the directory makes the renames durable.
	return dir.Sync()
}

// openDir makes the user's directory if it is missing and opens it. O_NOFOLLOW refuses
// a symlink in its place (open(2): ELOOP), and the owner and mode are set through the
// descriptor (fchown(2), fchmod(2)), so they land on the directory that was opened.
func (u User) openDir() (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(u.Dir), 0o755); err != nil {
		return nil, err
	}
	if err := unix.Mkdir(u.Dir, dirMode); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, &os.PathError{Op: "mkdir", Path: u.Dir, Err: err}
	}
	fd, err := unix.Open(u.Dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("secrets directory of uid %d (it must be a directory, not a symlink): %w", u.UID, &os.PathError{Op: "open", Path: u.Dir, Err: err})
	}
	dir := os.NewFile(uintptr(fd), u.Dir)
	if err := u.ownDir(dir); err != nil {
		dir.Close()
		return nil, err
	}
	return dir, nil
}

// ownDir gives the directory to this process's user (root on the node) and the service's
// group; a directory the service made or was given before is taken back.
func (u User) ownDir(dir *os.File) error {
	if err := dir.Chown(os.Geteuid(), u.GID); err != nil {
		return err
	}
	return dir.Chmod(dirMode)
}

// writeSecret writes one secret under a temporary name and renames it to name. The
// temporary file is created with O_CREAT|O_EXCL|O_NOFOLLOW relative to the directory's
// descriptor (openat(2): with O_EXCL a symlink is never followed, it is EEXIST), so the
// file chowned below is the one just made. renameat(2) replaces whatever holds name,
// a symlink included, without following it.
func (u User) writeSecret(dir *os.File, name string, data []byte) error {
	dirfd := int(dir.Fd())
	tmp := "." + name + ".tmp"
	// A temporary left by a write that failed is root's own, in root's directory.
	if err := unix.Unlinkat(dirfd, tmp, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return &os.PathError{Op: "unlinkat", Path: u.Path(tmp), Err: err}
	}
	fd, err := unix.Openat(dirfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return &os.PathError{Op: "openat", Path: u.Path(tmp), Err: err}
	}
	if err := u.fill(os.NewFile(uintptr(fd), u.Path(tmp)), data); err != nil {
		unix.Unlinkat(dirfd, tmp, 0)
		return err
	}
	if err := unix.Renameat(dirfd, tmp, dirfd, name); err != nil {
		unix.Unlinkat(dirfd, tmp, 0)
		return &os.PathError{Op: "renameat", Path: u.Path(name), Err: err}
	}
	return nil
}

// fill gives f to the user, mode 0600, writes data and fsyncs it, all through the
// descriptor, and closes f.
func (u User) fill(f *os.File, data []byte) error {
	err := f.Chown(u.UID, u.GID)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}
