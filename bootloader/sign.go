package bootloader

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"fmt"

	"github.com/kiln-os/kiln/bootloader/keys"
)

// SystemdBootSource is where Debian's systemd-boot-efi package (252) puts
// the unsigned systemd-boot binary the pipeline signs.
const SystemdBootSource = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"

// SignFunc is the Authenticode signer, uki/authenticode.Sign in the
// pipeline: it returns image with a PKCS#7 signature by cert/signer
// appended in its certificate table.
type SignFunc func(image []byte, cert *x509.Certificate, signer crypto.Signer) ([]byte, error)

// systemdBootMagic opens the string systemd-boot keeps in its .sdmagic
// section ("#### LoaderInfo: systemd-boot 252.39-1~deb12u2 ####").
var systemdBootMagic = []byte("#### LoaderInfo: systemd-boot ")

// SignSystemdBoot signs the systemd-boot EFI binary with the db key through
// sign, after checking that it is systemd-boot (and not, say, the stub), and
// checks that the result still is.
func SignSystemdBoot(unsigned []byte, db keys.Pair, sign SignFunc) ([]byte, error) {
	if !IsSystemdBoot(unsigned) {
		return nil, fmt.Errorf("bootloader: input is not a systemd-boot EFI binary (want %s from systemd-boot-efi)", SystemdBootSource)
	}
	if db.Cert == nil || db.Signer == nil {
		return nil, fmt.Errorf("bootloader: no db key to sign systemd-boot; %s", keys.HowToGenerate)
	}
	signed, err := sign(unsigned, db.Cert, db.Signer)
	if err != nil {
		return nil, fmt.Errorf("sign systemd-boot: %w", err)
	}
	if !IsSystemdBoot(signed) || len(signed) <= len(unsigned) {
		return nil, fmt.Errorf("bootloader: signing returned something other than a signed systemd-boot (%d bytes from %d)", len(signed), len(unsigned))
	}
	return signed, nil
}

// IsSystemdBoot reports whether image is a PE file carrying systemd-boot's
// LoaderInfo magic.
func IsSystemdBoot(image []byte) bool {
	return bytes.HasPrefix(image, []byte("MZ")) && bytes.Contains(image, systemdBootMagic)
}
