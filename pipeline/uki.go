package pipeline

import (
	"context"
	"crypto"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"

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

// ukiIn is what the unified kernel image is made of and signed with.
type ukiIn struct {
	Vmlinuz, Initramfs string
	KernelRelease      string
	// Name and Version make .osrel and the SBAT line; Cmdline is .cmdline.
	Name, Version, Cmdline string
	// DB signs the image; PCR signs the PCR 11 policy in .pcrsig.
	DB    keys.Pair
	PCR   crypto.Signer
	Epoch int64
	stepEnv
}

// ukiOut is the signed image (inside the cache), what the manifest says about it, and its
// predicted PCR 11 values.
type ukiOut struct {
	Path  string
	Info  UKIInfo
	PCR11 pcrsig.Predictions
	cached
}

// stepUKI assembles the unified kernel image on the pinned systemd-stub and signs it with db.
func stepUKI(ctx context.Context, in ukiIn) (ukiOut, error) {
	stub, err := readPinned(StubPath, StubSHA256, StubPackage)
	if err != nil {
		return ukiOut{}, err
	}
	sections, err := buildUKISections(in, stub)
	if err != nil {
		return ukiOut{}, err
	}
	sections, pcr11, err := addPCRSignature(sections, in.PCR)
	if err != nil {
		return ukiOut{}, err
	}
	dir, hit, err := Cache{in.CacheDir}.Step("uki", ukiKey(in, sections), func(dir string) error {
		return assembleUKI(in, stub, sections, filepath.Join(dir, "uki.efi"))
	})
	if err != nil {
		return ukiOut{}, err
	}
	logHit(in.Log, "uki", hit)
	return ukiOut{Path: filepath.Join(dir, "uki.efi"), Info: ukiInfo(sections, in.DB), PCR11: pcr11, cached: cached{hit}}, nil
}

// ukiKey is the cache key of a UKI: the stub, the signer, the epoch and every section.
func ukiKey(in ukiIn, sections []pe.Section) string {
	parts := []string{"uki-v1", StubSHA256, certFingerprint(in.DB.Cert.Raw), fmt.Sprint(in.Epoch)}
	for _, s := range sections {
		parts = append(parts, s.Name, sha256Hex(s.Data))
	}
	return Key(parts...)
}

func assembleUKI(in ukiIn, stub []byte, sections []pe.Section, dst string) error {
	start := time.Now()
	image, err := pe.Assemble(pe.Options{Stub: stub, Sections: sections, Timestamp: uint32(in.Epoch)})
	if err != nil {
		return fmt.Errorf("assemble UKI: %w", err)
	}
	signed, err := authenticode.Sign(image, in.DB.Cert, in.DB.Signer)
	if err != nil {
		return fmt.Errorf("sign UKI: %w", err)
	}
	in.Log.WithFields(logrus.Fields{"bytes": len(signed), "took": time.Since(start).Round(time.Millisecond)}).Info("UKI assembled and signed")
	return os.WriteFile(dst, signed, 0o644)
}

// ukiInfo is the manifest's description of a UKI built on the pinned stub.
func ukiInfo(sections []pe.Section, db keys.Pair) UKIInfo {
	info := UKIInfo{Stub: StubPackage, StubSHA256: StubSHA256, Signer: certFingerprint(db.Cert.Raw)}
	for _, sec := range sections {
		info.Sections = append(info.Sections, SectionDigest{Name: sec.Name, SHA256: sha256Hex(sec.Data), Size: len(sec.Data)})
	}
	return info
}

// ukiName is the blessed file name of a version's UKI: kiln-<version>.efi.
func ukiName(version string) string { return entry.Prefix + version + entry.Suffix }

// buildUKISections returns the UKI's sections in the order systemd-stub 252 measures them.
func buildUKISections(in ukiIn, stub []byte) ([]pe.Section, error) {
	vmlinuz, err := os.ReadFile(in.Vmlinuz)
	if err != nil {
		return nil, err
	}
	initrd, err := os.ReadFile(in.Initramfs)
	if err != nil {
		return nil, err
	}
	sbat, err := sbat(stub, in.Version)
	if err != nil {
		return nil, err
	}
	return []pe.Section{
		{Name: ".osrel", Data: rootfs.OSRelease(in.Name, in.Version)},
		{Name: ".cmdline", Data: []byte(in.Cmdline)},
		{Name: ".uname", Data: []byte(in.KernelRelease)},
		{Name: ".sbat", Data: sbat},
		{Name: ".linux", Data: vmlinuz},
		{Name: ".initrd", Data: initrd},
	}, nil
}

// sbat is the stub's SBAT section with Kiln's line for version appended.
func sbat(stub []byte, version string) ([]byte, error) {
	f, err := pe.Parse(stub)
	if err != nil {
		return nil, fmt.Errorf("systemd-stub %s: %w", StubPath, err)
	}
	var stubSBAT []byte
	if s := f.Section(".sbat"); s != nil {
		stubSBAT = f.SectionData(s)
	}
	return pe.MergeSBAT(stubSBAT, fmt.Appendf(nil, kilnSBAT, version))
}

// UnsealPhase is the boot phase whose PCR 11 value the .pcrsig authorises: machined unseals
// STATE after leave-initrd and extends "ready" afterwards, so nothing after the boot can
// unseal again (DESIGN.md "Measured boot").
const UnsealPhase = pcr.PhaseLeaveInitrd

// pcrBanks are the PCR banks predicted; the policy is signed for both.
var pcrBanks = []crypto.Hash{crypto.SHA256, crypto.SHA384}

// addPCRSignature adds .pcrpkey (the PCR public key, measured) and .pcrsig (the signed
// PolicyPCR digest of PCR 11 in UnsealPhase, not measured) and returns the predictions for
// the manifest.
func addPCRSignature(sections []pe.Section, pcrKey crypto.Signer) ([]pe.Section, pcrsig.Predictions, error) {
	pem, err := pcrsig.PublicKeyPEM(pcrKey)
	if err != nil {
		return nil, nil, err
	}
	sections = append(sections, pe.Section{Name: ".pcrpkey", Data: pem})
	pred, err := pcrsig.Predict(sections, pcrBanks)
	if err != nil {
		return nil, nil, fmt.Errorf("predict PCR 11: %w", err)
	}
	sig, err := pcrsig.Sign(pred, pcrKey, []string{UnsealPhase})
	if err != nil {
		return nil, nil, fmt.Errorf("sign PCR 11 policy: %w", err)
	}
	return append(sections, pe.Section{Name: ".pcrsig", Data: sig}), pred, nil
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
