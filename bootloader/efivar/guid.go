package efivar

import "github.com/kiln-os/kiln/internal/guid"

// Well-known GUIDs of the UEFI specification and systemd-boot.
var (
	// GlobalVariable is EFI_GLOBAL_VARIABLE: PK, KEK, SecureBoot, SetupMode.
	GlobalVariable = guid.MustParse("8be4df61-93ca-11d2-aa0d-00e098032b8c")
	// ImageSecurityDatabase is EFI_IMAGE_SECURITY_DATABASE_GUID: db and dbx.
	ImageSecurityDatabase = guid.MustParse("d719b2cb-3d3a-4596-a3bc-dad00e67656f")
	// LoaderVendor is systemd-boot's vendor GUID for its Loader* variables.
	LoaderVendor = guid.MustParse("4a67b082-0a4c-41cf-b6c7-440b29bb8c4f")
	// CertX509 is EFI_CERT_X509_GUID: a signature list of DER certificates.
	CertX509 = guid.MustParse("a5c059a1-94e4-4aa7-87b5-ab155c2bf072")
	// CertTypePKCS7 is EFI_CERT_TYPE_PKCS7_GUID, the CertType of a
	// WIN_CERTIFICATE_UEFI_GUID holding a PKCS#7 SignedData.
	CertTypePKCS7 = guid.MustParse("4aafd29d-68df-49ee-8aa9-347d375665a7")
)
