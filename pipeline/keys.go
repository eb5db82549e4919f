package pipeline

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/bootloader/keys"
)

// ErrKeys is returned when the signing keys are missing and may not be generated.
var ErrKeys = errors.New("pipeline: signing keys")

// keysIn says where the signing keys are and whether a missing set may be generated.
type keysIn struct {
	Dir      string
	Generate bool
	// Owner prefixes the common names of generated certificates.
	Owner string
	// Epoch is the NotBefore of generated certificates.
	Epoch int64
	Log   logrus.FieldLogger
}

// stepKeys loads the Secure Boot and PCR keys from Dir, generating a new set first when
// the directory has none and Generate is set. Keys never enter the cache or _out.
func stepKeys(ctx context.Context, in keysIn) (*keys.Set, error) {
	if _, err := os.Stat(filepath.Join(in.Dir, "db.crt")); errors.Is(err, os.ErrNotExist) {
		if !in.Generate {
			return nil, fmt.Errorf("%w: none in %s; %s", ErrKeys, in.Dir, keys.HowToGenerate)
		}
		if err := keys.Generate(in.Dir, in.Owner, rand.Reader, time.Unix(in.Epoch, 0)); err != nil {
			return nil, err
		}
		in.Log.WithField("dir", in.Dir).Warn("generated new Secure Boot keys (PK, KEK, db) and PCR key; keep them safe and out of version control")
	}
	return keys.Load(in.Dir)
}

func (b *Build) keysDir() string {
	if b.KeysDir != "" {
		return b.KeysDir
	}
	return filepath.Join(b.RepoDir, "_keys")
}
