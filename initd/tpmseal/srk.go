package tpmseal

import (
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// SRKTemplate names, in a Blob, the template of the parent key: the ECC P-256 storage root
// key of the TCG "TPM v2.0 Provisioning Guidance" (1.0, 7.5.1), with an empty auth value
// under the owner hierarchy. The same template on the same TPM re-derives the same key, so
// it is created on every use and never stored.
const SRKTemplate = "tcg-ecc-p256-srk"

// aesKeyBits is the parameter encryption of the sessions that carry the secret.
const aesKeyBits = 128

// srk is a loaded storage root key.
type srk struct {
	handle tpm2.TPMHandle
	name   tpm2.TPM2BName
	public tpm2.TPMTPublic
}

// createSRK creates the storage root key under the owner hierarchy (empty owner auth: the
// machine is Kiln's) and registers it with tr for flushing.
func createSRK(tpm transport.TPM, tr *transients) (*srk, error) {
	rsp, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.TPMRHOwner,
		InPublic:      tpm2.New2B(tpm2.ECCSRKTemplate),
	}.Execute(tpm)
	if err != nil {
		return nil, tpmError("CreatePrimary(SRK)", err)
	}
	tr.add(rsp.ObjectHandle)
	public, err := rsp.OutPublic.Contents()
	if err != nil {
		return nil, tpmError("CreatePrimary(SRK): public area", err)
	}
	return &srk{handle: rsp.ObjectHandle, name: rsp.Name, public: *public}, nil
}

// encryptSession returns a one-use HMAC session salted to the SRK that encrypts the first
// command or response parameter (encryption is a tpm2.AESEncryption) with AES-CFB, so a
// secret never crosses the bus in the clear (TPM 2.0 Part 1, 21). The TPM flushes it
// after use, go-tpm after a failure.
func (s *srk) encryptSession(encryption tpm2.AuthOption) tpm2.Session {
	return tpm2.HMAC(tpm2.TPMAlgSHA256, 16, tpm2.Salted(s.handle, s.public), encryption)
}

// auth returns the SRK as the authorised parent of a command, with sess as its session.
func (s *srk) auth(sess tpm2.Session) tpm2.AuthHandle {
	return tpm2.AuthHandle{Handle: s.handle, Name: s.name, Auth: sess}
}
