package upgrade

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/bootloader/efivar"
	"github.com/kiln-os/kiln/bootloader/entry"
	"github.com/kiln-os/kiln/internal/guid"
	"github.com/kiln-os/kiln/kernel/kspp"
	"github.com/kiln-os/kiln/uki/authenticode"
	"github.com/kiln-os/kiln/uki/pe"
)

// MaxImageSize is the hard limit on a UKI an upgrade accepts: 256 MiB.
const MaxImageSize = 256 << 20

// Env is what Verify reads from the running machine. machined fills it; tests
// point it at temporary directories.
type Env struct {
	// EfivarsDir is efivar.EfivarsDir on a node: SecureBoot, db and dbx.
	EfivarsDir string
	// ESPDir is where the ESP is mounted: its EFI/Linux holds the UKIs and
	// its loader/keys/auto/db.auth the db certificate used with Secure Boot off.
	ESPDir string
	// Booted is the booted UKI's current file name in EFI/Linux (after
	// Bless, the blessed name).
	Booted string
	// RunningVersion is the running os-release VERSION_ID.
	RunningVersion string
	// RunningPCRKey is the booted UKI's .pcrpkey, as systemd-stub handed it
	// to stage 1 (/.extra/tpm2-pcr-public-key.pem); nil if it had none.
	RunningPCRKey []byte
	// OSID is the running os-release ID (entry.OSID on Kiln).
	OSID string
	// FreeSpace returns the free bytes and the cluster size of the file
	// system holding dir; nil means statfs(2).
	FreeSpace func(dir string) (free, cluster uint64, err error)
}

// Options are the caller's choices, from the Upgrade request.
type Options struct {
	AllowDowngrade    bool
	ForcePCRKeyChange bool
	// MaxSize lowers the size limit (tests); 0 or more than MaxImageSize
	// means MaxImageSize.
	MaxSize int64
}

// Root says which certificates the image's signature chains to.
type Root string

const (
	// RootFirmwareDB: Secure Boot is on; the firmware's enrolled db, read from efivarfs.
	RootFirmwareDB Root = "firmware-db"
	// RootESPKeys: Secure Boot is off; the db certificate of the ESP's
	// enrolment files (loader/keys/auto/db.auth), which the running image
	// was installed with.
	RootESPKeys Root = "esp-db"
)

// Verified is an image that passed every check, and what Install needs.
type Verified struct {
	Image         []byte
	SHA256        [sha256.Size]byte
	Version       string // .osrel VERSION_ID
	Name          string // entry.Fresh(Version): the file Install creates
	Root          Root   // what the signature chains to; the response says so
	Downgrade     bool   // older than the running version (allowed)
	PCRKeyChanged bool   // .pcrpkey differs (forced): STATE will not unseal
	Booted        string // the booted UKI's file name; never rewritten
	PreviousGood  string // the previous good UKI's file name, "" if none; never rewritten
	Prune         []string
}

// ReadImage reads an image from r, refusing (CheckSize) as soon as it holds
// more than limit bytes (0: MaxImageSize), so a 300 MiB stream costs at
// most limit+1 bytes of memory. A read error (a stream cut off) is returned
// as is: there is nothing on the ESP to undo.
func ReadImage(r io.Reader, limit int64) ([]byte, error) {
	if limit <= 0 || limit > MaxImageSize {
		limit = MaxImageSize
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, refuse(CheckSize, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit))
	}
	return b, nil
}

// Verify checks image for an upgrade of the machine env describes, in the
// order of issue 13: size, PE, signature, .osrel, version, .pcrpkey, then
// DESIGN's .cmdline against the KSPP table, and room on the ESP. It reads but never writes. A refusal is an *Error naming the
// check.
func Verify(image []byte, env Env, opts Options) (*Verified, error) {
	limit := opts.MaxSize
	if limit <= 0 || limit > MaxImageSize {
		limit = MaxImageSize
	}
	if int64(len(image)) > limit {
		return nil, refuse(CheckSize, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(image), limit))
	}
	f, err := pe.Parse(image)
	if err != nil {
		return nil, refuse(CheckPE, err)
	}
	v := &Verified{Image: image, SHA256: sha256.Sum256(image), Booted: env.Booted}
	if v.Root, err = verifySignature(image, env.EfivarsDir, filepath.Join(env.ESPDir, DBAuthESP)); err != nil {
		return nil, refuse(CheckSignature, err)
	}
	if v.Version, err = kilnVersion(f, env.OSID); err != nil {
		return nil, refuse(CheckOSRel, err)
	}
	v.Name = entry.Fresh(v.Version)
	if v.Downgrade, err = checkVersion(v.Version, env.RunningVersion, opts.AllowDowngrade); err != nil {
		return nil, refuse(CheckVersion, err)
	}
	if v.PCRKeyChanged, err = checkPCRKey(f, env.RunningPCRKey, opts.ForcePCRKeyChange); err != nil {
		return nil, refuse(CheckPCRKey, err)
	}
	if err := checkCmdline(f); err != nil {
		return nil, refuse(CheckCmdline, err)
	}
	if err := checkSpace(v, env); err != nil {
		return nil, err
	}
	return v, nil
}

// verifySignature verifies the Authenticode signature against db: the
// firmware's with Secure Boot on, the enrolment file dbAuth (the ESP's
// loader/keys/auto/db.auth) with it off.
func verifySignature(image []byte, efivarsDir, dbAuth string) (Root, error) {
	sb, err := efivar.SecureBootEnabled(efivarsDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read SecureBoot: %w", err)
	}
	root, roots, err := RootFirmwareDB, []*x509.Certificate(nil), error(nil)
	if sb {
		roots, err = firmwareDB(efivarsDir)
	} else {
		root = RootESPKeys
		roots, err = espDB(dbAuth)
	}
	if err != nil {
		return "", err
	}
	if err := authenticode.Verify(image, roots); err != nil {
		return "", fmt.Errorf("%w (verified against the %s)", err, root)
	}
	if sb {
		return root, checkDBX(image, efivarsDir)
	}
	return root, nil
}

func firmwareDB(efivars string) ([]*x509.Certificate, error) {
	_, data, err := efivar.Read(efivars, "db", efivar.ImageSecurityDatabase)
	if err != nil {
		return nil, fmt.Errorf("%w: Secure Boot is on and db cannot be read: %w", ErrNoRoots, err)
	}
	return certificates(data, "the firmware's db")
}

// espDB reads the db certificate from the enrolment file at path (the ESP's,
// or for an install the signed payload's). Without one there is nothing to
// check the image against, and Verify refuses: an unchecked image is what
// Secure Boot being off must not turn into.
func espDB(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: Secure Boot is off and the ESP's db certificate cannot be read: %w", ErrNoRoots, err)
	}
	auth, err := efivar.ParseAuth(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", DBAuthESP, err)
	}
	return certificates(auth.Payload, DBAuthESP)
}

func certificates(esl []byte, what string) ([]*x509.Certificate, error) {
	lists, err := efivar.ParseSignatureLists(esl)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	certs, err := efivar.Certificates(lists)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: %s holds no X.509 certificate", ErrNoRoots, what)
	}
	return certs, nil
}

// certSHA256 is EFI_CERT_SHA256_GUID: a signature list of image hashes.
var certSHA256 = guid.MustParse("c1c41626-504c-4092-aca9-41f936934328")

// checkDBX refuses an image whose Authenticode hash the firmware revoked.
// (Revoked certificates in dbx are not checked: Kiln's own db key is the
// only signer, and firmware would refuse such an image at boot anyway.)
func checkDBX(image []byte, efivars string) error {
	_, data, err := efivar.Read(efivars, "dbx", efivar.ImageSecurityDatabase)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read dbx: %w", err)
	}
	lists, err := efivar.ParseSignatureLists(data)
	if err != nil {
		return fmt.Errorf("dbx: %w", err)
	}
	hash, err := authenticode.Hash(image)
	if err != nil {
		return err
	}
	for _, l := range lists {
		for _, s := range l.Signatures {
			if l.Type == certSHA256 && bytes.Equal(s.Data, hash) {
				return fmt.Errorf("%w: %x", ErrRevoked, hash)
			}
		}
	}
	return nil
}

// kilnVersion returns VERSION_ID from the image's .osrel, which must say
// ID=osID.
func kilnVersion(f *pe.File, osID string) (string, error) {
	s := f.Section(".osrel")
	if s == nil {
		return "", fmt.Errorf("%w: no .osrel section", ErrNotKiln)
	}
	osrel := parseOSRelease(f.SectionData(s))
	if osID == "" || osrel["ID"] != osID {
		return "", fmt.Errorf("%w: .osrel ID=%q, the running system is ID=%q", ErrNotKiln, osrel["ID"], osID)
	}
	version := osrel["VERSION_ID"]
	if err := entry.CheckVersion(version); err != nil {
		return "", fmt.Errorf("%w: .osrel VERSION_ID: %w", ErrNotKiln, err)
	}
	return version, nil
}

// parseOSRelease reads KEY=VALUE lines (os-release(5)), unquoting values.
func parseOSRelease(b []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(bytes.TrimRight(b, "\x00")))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		key, value, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
			value = value[1 : len(value)-1]
		}
		out[key] = value
	}
	return out
}

// checkVersion compares as systemd-boot orders UKIs (entry.CompareVersions),
// so "newer" here is "boots first" there. The running version itself is
// refused even with allowDowngrade: its file name would be the booted one's
// stem, and Bless would later collide with the running UKI's blessed name;
// reinstalling what runs fixes nothing a rollback does not.
func checkVersion(version, running string, allowDowngrade bool) (downgrade bool, err error) {
	switch c := entry.CompareVersions(version, running); {
	case c == 0:
		return false, fmt.Errorf("%w: %s", ErrAlreadyInstalled, version)
	case c < 0 && !allowDowngrade:
		return false, fmt.Errorf("%w: %s < %s", ErrDowngrade, version, running)
	case c < 0:
		return true, nil
	}
	return false, nil
}

func checkPCRKey(f *pe.File, running []byte, force bool) (changed bool, err error) {
	var key []byte
	if s := f.Section(".pcrpkey"); s != nil {
		key = f.SectionData(s)
	}
	if bytes.Equal(key, running) {
		return false, nil
	}
	if !force {
		return false, ErrPCRKeyChanged
	}
	return true, nil
}

// checkCmdline refuses a command line that the booted image's EnforceKSPPRequirements
// phase would refuse: installing it would only spend the tries of a boot that must fail.
func checkCmdline(f *pe.File) error {
	s := f.Section(".cmdline")
	if s == nil {
		return fmt.Errorf("%w: no .cmdline section", ErrCmdline)
	}
	cmdline := strings.TrimRight(string(f.SectionData(s)), "\x00")
	failed := kspp.Failures(kspp.CheckCmdline(cmdline))
	if len(failed) == 0 {
		return nil
	}
	missing := make([]string, len(failed))
	for i, r := range failed {
		missing[i] = r.Name
		if r.Value != "" {
			missing[i] += "=" + r.Value
		}
		missing[i] += " (got " + r.Got + ")"
	}
	return fmt.Errorf("%w: it lacks %s", ErrCmdline, strings.Join(missing, ", "))
}

// checkSpace plans the prune Install will do and checks that the image fits
// in the free space plus what the prune frees, counted in whole clusters,
// with one cluster to spare for the directory.
func checkSpace(v *Verified, env Env) error {
	linuxDir := filepath.Join(env.ESPDir, LinuxDir)
	p, err := makePlan(linuxDir, env.Booted)
	if err != nil {
		return err
	}
	v.Booted, v.PreviousGood, v.Prune = p.booted, p.previous, p.remove
	freeSpace := env.FreeSpace
	if freeSpace == nil {
		freeSpace = statfsFree
	}
	free, cluster, err := freeSpace(linuxDir)
	if err != nil {
		return refuse(CheckSpace, err)
	}
	cluster = max(cluster, 1)
	for _, name := range p.remove {
		fi, err := os.Stat(filepath.Join(linuxDir, name))
		if err != nil {
			return refuse(CheckESP, err)
		}
		free += roundUp(uint64(fi.Size()), cluster)
	}
	need := roundUp(uint64(len(v.Image)), cluster) + cluster
	if need > free {
		return refuse(CheckSpace, fmt.Errorf("%w: %d bytes needed, %d free after pruning %q", ErrNoRoom, need, free, p.remove))
	}
	return nil
}

func roundUp(n, unit uint64) uint64 { return (n + unit - 1) / unit * unit }

func statfsFree(dir string) (free, cluster uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, &fs.PathError{Op: "statfs", Path: dir, Err: err}
	}
	return st.Bavail * uint64(st.Bsize), uint64(st.Bsize), nil
}
