package services

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/kiln-os/kiln/internal/atomicfile"
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

// Path is a file in the user's directory.
func (u User) Path(name string) string { return filepath.Join(u.Dir, name) }

// WriteSecrets writes files (atomically) into the user's directory, readable only by
// that user.
func (u User) WriteSecrets(files map[string][]byte) error {
	if err := os.MkdirAll(u.Dir, 0o700); err != nil {
		return err
	}
	if err := os.Chown(u.Dir, u.UID, u.GID); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		path := filepath.Join(u.Dir, name)
		if err := atomicfile.Write(path, files[name], 0o600); err != nil {
			return err
		}
		if err := os.Chown(path, u.UID, u.GID); err != nil {
			return err
		}
	}
	return nil
}
