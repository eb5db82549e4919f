package bootloader

import (
	"fmt"
	"time"

	"github.com/kiln-os/kiln/bootloader/efivar"
	"github.com/kiln-os/kiln/bootloader/keys"
	"github.com/kiln-os/kiln/internal/guid"
)

// OwnerGUID is the signature owner Kiln writes into its signature lists. The
// firmware does not interpret it; a fixed value keeps the files reproducible
// and lets tools tell Kiln's entries apart.
var OwnerGUID = guid.MustParse("f2449d02-b228-4b3d-8eb6-66debb154c8b")

// authFileNames are the files systemd-boot 252 reads from loader/keys/auto/.
var authFileNames = []string{"KEK.auth", "PK.auth", "db.auth"}

// enrolment is one variable of the chain: its payload is the certificate of
// role, signed by signedBy.
type enrolment struct {
	variable string
	vendor   guid.GUID
	role     keys.Role
	signedBy keys.Role
}

// chain is the enrolment order systemd-boot 252 uses (db, KEK, then PK: once
// PK is written the firmware leaves setup mode and checks every later write)
// and who signs what: PK signs itself and KEK, KEK signs db.
var chain = []enrolment{
	{"db", efivar.ImageSecurityDatabase, keys.DB, keys.KEK},
	{"KEK", efivar.GlobalVariable, keys.KEK, keys.PK},
	{"PK", efivar.GlobalVariable, keys.PK, keys.PK},
}

// EnrollmentFiles returns loader/keys/auto/{db,KEK,PK}.auth: for each, an
// EFI_VARIABLE_AUTHENTICATION_2 with attributes NV|BS|RT|TIME_BASED_AUTH
// over a one-certificate EFI_SIGNATURE_LIST (owner owner), timestamped
// timestamp (SOURCE_DATE_EPOCH). Same keys and inputs, same bytes.
func EnrollmentFiles(set *keys.Set, owner guid.GUID, timestamp time.Time) ([]File, error) {
	if set == nil {
		return nil, fmt.Errorf("bootloader: no Secure Boot keys; %s", keys.HowToGenerate)
	}
	var files []File
	for _, e := range chain {
		data, err := authFile(set, e, owner, timestamp)
		if err != nil {
			return nil, err
		}
		files = append(files, File{AutoKeysDir + "/" + e.variable + ".auth", data})
	}
	return files, nil
}

func authFile(set *keys.Set, e enrolment, owner guid.GUID, timestamp time.Time) ([]byte, error) {
	subject, _ := set.Pair(e.role)
	signer, _ := set.Pair(e.signedBy)
	if subject.Cert == nil || signer.Cert == nil || signer.Signer == nil {
		return nil, fmt.Errorf("bootloader: %s.auth needs the %s certificate and the %s key", e.variable, e.role, e.signedBy)
	}
	esl, err := efivar.X509List(owner, subject.Cert).MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("%s.auth: %w", e.variable, err)
	}
	return efivar.AuthVariable(e.variable, e.vendor, efivar.AttrsSecureBoot, timestamp, esl, signer.Cert, signer.Signer)
}
