package upgrade

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/kiln-os/kiln/bootloader/entry"
	"github.com/kiln-os/kiln/uki/pe"
)

// InstallEnv is what VerifyInstall reads: the running machine (a live boot) and the
// ESP to be written, which is not there yet.
type InstallEnv struct {
	// EfivarsDir is efivar.EfivarsDir: SecureBoot, db and dbx.
	EfivarsDir string
	// PayloadDir is the signed rootfs's ESP payload (/usr/lib/kiln/esp): with Secure
	// Boot off its loader/keys/auto/db.auth is the db certificate the image must chain
	// to, the one the new ESP will enrol.
	PayloadDir string
	// RunningVersion, RunningPCRKey and OSID are as in Env.
	RunningVersion string
	RunningPCRKey  []byte
	OSID           string
	// ESPSize is the new ESP's size in bytes (layout.ESPSize).
	ESPSize int64
}

// ErrNotRunning: an install writes the version that runs, nothing else.
var ErrNotRunning = errors.New("not the running version (an install writes the running version; upgrade after the install)")

// installReserve is room on the new ESP kept for what is not the UKI: systemd-boot
// twice, loader.conf, the .auth files, and the FAT's own structures in a 512 MiB FAT32.
const installReserve = 16 << 20

// VerifyInstall checks image for an install as Verify checks it for an upgrade: size,
// PE, the signature against db (the firmware's with Secure Boot on, the payload's
// db.auth with it off; dbx), .osrel, .pcrpkey equal to the running one (never forced),
// .cmdline against the KSPP table. Two checks differ, because there is no ESP yet and
// the image must be the one that runs: the version must equal RunningVersion
// (ErrNotRunning), and the room check is against ESPSize. It only reads.
func VerifyInstall(image []byte, env InstallEnv) (*Verified, error) {
	if int64(len(image)) > MaxImageSize {
		return nil, refuse(CheckSize, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(image), MaxImageSize))
	}
	f, err := pe.Parse(image)
	if err != nil {
		return nil, refuse(CheckPE, err)
	}
	v := &Verified{Image: image, SHA256: sha256.Sum256(image)}
	if v.Root, err = verifySignature(image, env.EfivarsDir, filepath.Join(env.PayloadDir, DBAuthESP)); err != nil {
		return nil, refuse(CheckSignature, err)
	}
	if v.Version, err = kilnVersion(f, env.OSID); err != nil {
		return nil, refuse(CheckOSRel, err)
	}
	v.Name = entry.Fresh(v.Version)
	if v.Version != env.RunningVersion {
		return nil, refuse(CheckVersion, fmt.Errorf("%w: image %s, running %s", ErrNotRunning, v.Version, env.RunningVersion))
	}
	if _, err := checkPCRKey(f, env.RunningPCRKey, false); err != nil {
		return nil, refuse(CheckPCRKey, err)
	}
	if err := checkCmdline(f); err != nil {
		return nil, refuse(CheckCmdline, err)
	}
	if need := int64(len(image)) + installReserve; need > env.ESPSize {
		return nil, refuse(CheckSpace, fmt.Errorf("%w: %d bytes needed on a %d-byte ESP", ErrNoRoom, need, env.ESPSize))
	}
	return v, nil
}
