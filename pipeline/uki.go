package pipeline

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/bootloader"
	"github.com/kiln-os/kiln/bootloader/entry"
	"github.com/kiln-os/kiln/bootloader/keys"
	"github.com/kiln-os/kiln/internal/digest"
	"github.com/kiln-os/kiln/measure/pcr"
	"github.com/kiln-os/kiln/rootfs"
	"github.com/kiln-os/kiln/uki/authenticode"
	"github.com/kiln-os/kiln/uki/pcrsig"
	"github.com/kiln-os/kiln/uki/pe"
)

// The pinned systemd-stub: Debian's systemd-boot-efi package. A different file fails the
// build with the package and hash to install.
const (
	StubPackage = "systemd-boot-efi 252.39-1~deb12u2"
	StubPath    = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"
	StubSHA256  = "c62ae56ffaf49d1a61de4434f4f531dd1d4ed3b5aee46c934c56e3f809b22cc4"
	// SystemdBootSHA256 pins bootloader.SystemdBootSource from the same package.
	SystemdBootSHA256 = "10288fece5e90ce3ba3e7160f49695b022d648f7ef41774678db8c77774db167"
)

// kilnSBAT is Kiln's SBAT component line (shim's SBAT.md format); bump the generation
// when a Kiln UKI must be revoked.
const kilnSBAT = "kiln,1,Kiln,kiln,%s,https://github.com/kiln-os/kiln\n"

// ErrKeys is returned when the signing keys are missing and may not be generated.
var ErrKeys = errors.New("pipeline: signing keys")

// stepKeys loads the Secure Boot and PCR keys from KeysDir, generating a new set first when
// the directory has none and GenerateKeys is set. Keys never enter the cache or _out.
func stepKeys(ctx context.Context, st *state) error {
	b := st.b
	dir := b.keysDir()
	if _, err := os.Stat(filepath.Join(dir, "db.crt")); errors.Is(err, os.ErrNotExist) {
		if !b.GenerateKeys {
			return fmt.Errorf("%w: none in %s; %s", ErrKeys, dir, keys.HowToGenerate)
		}
		if err := keys.Generate(dir, "Kiln "+b.Spec.Name, rand.Reader, time.Unix(st.epoch, 0)); err != nil {
			return err
		}
		b.Log.WithField("dir", dir).Warn("generated new Secure Boot keys (PK, KEK, db) and PCR key; keep them safe and out of version control")
	}
	set, err := keys.Load(dir)
	if err != nil {
		return err
	}
	st.keys = set
	return nil
}

func (b *Build) keysDir() string {
	if b.KeysDir != "" {
		return b.KeysDir
	}
	return filepath.Join(b.RepoDir, "_keys")
}

// stepUKI assembles the unified kernel image on the pinned systemd-stub and signs it with db.
func stepUKI(ctx context.Context, st *state) error {
	b := st.b
	stub, err := readPinned(StubPath, StubSHA256, StubPackage)
	if err != nil {
		return err
	}
	sections, err := st.buildUKISections(stub)
	if err != nil {
		return err
	}
	sections, err = st.addPCRSignature(sections)
	if err != nil {
		return err
	}
	parts := []string{"uki-v1", StubSHA256, certFingerprint(st.keys.DB.Cert.Raw), fmt.Sprint(st.epoch)}
	for _, s := range sections {
		parts = append(parts, s.Name, sha256Hex(s.Data))
	}
	dir, hit, err := Cache{b.CacheDir}.Step("uki", Key(parts...), func(dir string) error {
		start := time.Now()
		image, err := pe.Assemble(pe.Options{Stub: stub, Sections: sections, Timestamp: uint32(st.epoch)})
		if err != nil {
			return fmt.Errorf("assemble UKI: %w", err)
		}
		signed, err := authenticode.Sign(image, st.keys.DB.Cert, st.keys.DB.Signer)
		if err != nil {
			return fmt.Errorf("sign UKI: %w", err)
		}
		b.Log.WithFields(logrus.Fields{"bytes": len(signed), "took": time.Since(start).Round(time.Millisecond)}).Info("UKI assembled and signed")
		return os.WriteFile(filepath.Join(dir, "uki.efi"), signed, 0o644)
	})
	if err != nil {
		return err
	}
	logHit(b.Log, "uki", hit)
	st.uki = filepath.Join(dir, "uki.efi")
	st.ukiSections = sections
	return st.link("uki", b.ukiName(), st.uki)
}

// ukiName is the blessed file name of this build's UKI: kiln-<version>.efi.
func (b *Build) ukiName() string { return entry.Prefix + b.Spec.Version + entry.Suffix }

// ukiSections are the UKI's sections in the order systemd-stub 252 measures them.
func (st *state) buildUKISections(stub []byte) ([]pe.Section, error) {
	b := st.b
	vmlinuz, err := os.ReadFile(st.kernel.Vmlinuz)
	if err != nil {
		return nil, err
	}
	initrd, err := os.ReadFile(st.initramfs)
	if err != nil {
		return nil, err
	}
	sbat, err := st.sbat(stub)
	if err != nil {
		return nil, err
	}
	return []pe.Section{
		{Name: ".osrel", Data: rootfs.OSRelease(b.Spec.Name, b.Spec.Version)},
		{Name: ".cmdline", Data: []byte(b.Spec.Kernel.Cmdline)},
		{Name: ".uname", Data: []byte(st.kernel.Release)},
		{Name: ".sbat", Data: sbat},
		{Name: ".linux", Data: vmlinuz},
		{Name: ".initrd", Data: initrd},
	}, nil
}

func (st *state) sbat(stub []byte) ([]byte, error) {
	f, err := pe.Parse(stub)
	if err != nil {
		return nil, fmt.Errorf("systemd-stub %s: %w", StubPath, err)
	}
	var stubSBAT []byte
	if s := f.Section(".sbat"); s != nil {
		stubSBAT = f.SectionData(s)
	}
	return pe.MergeSBAT(stubSBAT, fmt.Appendf(nil, kilnSBAT, st.b.Spec.Version))
}

// UnsealPhase is the boot phase whose PCR 11 value the .pcrsig authorises: machined unseals
// STATE after leave-initrd and extends "ready" afterwards, so nothing after the boot can
// unseal again (DESIGN.md "Measured boot").
const UnsealPhase = pcr.PhaseLeaveInitrd

// pcrBanks are the PCR banks predicted; the policy is signed for both.
var pcrBanks = []crypto.Hash{crypto.SHA256, crypto.SHA384}

// addPCRSignature adds .pcrpkey (the PCR public key, measured) and .pcrsig (the signed
// PolicyPCR digest of PCR 11 in UnsealPhase, not measured) and keeps the predictions for
// the manifest.
func (st *state) addPCRSignature(sections []pe.Section) ([]pe.Section, error) {
	pem, err := pcrsig.PublicKeyPEM(st.keys.PCR)
	if err != nil {
		return nil, err
	}
	sections = append(sections, pe.Section{Name: ".pcrpkey", Data: pem})
	pred, err := pcrsig.Predict(sections, pcrBanks)
	if err != nil {
		return nil, fmt.Errorf("predict PCR 11: %w", err)
	}
	sig, err := pcrsig.Sign(pred, st.keys.PCR, []string{UnsealPhase})
	if err != nil {
		return nil, fmt.Errorf("sign PCR 11 policy: %w", err)
	}
	st.pcr11 = pred
	return append(sections, pe.Section{Name: ".pcrsig", Data: sig}), nil
}

// stepBootloader signs systemd-boot with db.
func stepBootloader(ctx context.Context, st *state) error {
	b := st.b
	unsigned, err := readPinned(bootloader.SystemdBootSource, SystemdBootSHA256, StubPackage)
	if err != nil {
		return err
	}
	key := Key("systemd-boot-v1", SystemdBootSHA256, certFingerprint(st.keys.DB.Cert.Raw))
	dir, hit, err := Cache{b.CacheDir}.Step("bootloader", key, func(dir string) error {
		signed, err := bootloader.SignSystemdBoot(unsigned, st.keys.DB, authenticode.Sign)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, "systemd-bootx64.efi"), signed, 0o644)
	})
	if err != nil {
		return err
	}
	logHit(b.Log, "bootloader", hit)
	st.systemdBoot = filepath.Join(dir, "systemd-bootx64.efi")
	return st.link("bootloader", "systemd-bootx64.efi", st.systemdBoot)
}

// readPinned reads a host file whose SHA-256 is pinned, naming the package on mismatch.
func readPinned(path, wantSHA, pkg string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s is missing: install Debian package %s (make deps): %w", path, pkg, err)
	}
	if got := sha256Hex(data); got != wantSHA {
		return nil, fmt.Errorf("%s has SHA-256 %s, want %s from Debian package %s; install that version or update the pin in pipeline/uki.go", path, got, wantSHA, pkg)
	}
	return data, nil
}

func sha256Hex(b []byte) string { return digest.Bytes(b) }

func certFingerprint(der []byte) string { return sha256Hex(der) }
