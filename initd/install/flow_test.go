package install

import (
	"bytes"
	"context"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/kiln-os/kiln/bootloader/efivar"
	"github.com/kiln-os/kiln/initd/upgrade"
	"github.com/kiln-os/kiln/internal/guid"
	"github.com/kiln-os/kiln/internal/testpki"
	"github.com/kiln-os/kiln/internal/ukitest"
	"github.com/kiln-os/kiln/pipeline/disk/fat"
	"github.com/kiln-os/kiln/pipeline/disk/layout"
)

// TestInstallFromISO is the library's whole flow as machined's Install phase runs it,
// on files: take the UKI off the live ISO, verify it as an upgrade does (Secure Boot
// off: against the payload's db.auth), install it to a disk, and set BootNext.
func TestInstallFromISO(t *testing.T) {
	db := testpki.LoadPair(t, "../../uki/authenticode/testdata", "db")
	esl, err := efivar.SignatureList{Type: efivar.CertX509, Signatures: []efivar.SignatureData{{Owner: guid.MustParse("8c5b1a3e-2f44-4d8e-9b1e-6a0f3c2d1e00"), Data: db.Cert.Raw}}}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	auth, err := efivar.AuthVariable("db", efivar.ImageSecurityDatabase, efivar.AttrsSecureBoot, time.Unix(1704164645, 0).UTC(), esl, db.Cert, db.Signer)
	if err != nil {
		t.Fatal(err)
	}
	payload := fakePayload()
	for i := range payload {
		if payload[i].Path == "loader/keys/auto/db.auth" {
			payload[i].Data = auth
		}
	}
	payloadDir := payloadDir(t, payload)
	efivars := t.TempDir()
	if err := efivar.Write(efivars, "SecureBoot", efivar.GlobalVariable, efivar.AttrBootServiceAccess|efivar.AttrRuntimeAccess, []byte{0}); err != nil {
		t.Fatal(err)
	}

	uki := ukitest.Kiln("0.2.0").Build(t)
	img := liveISO(t, map[string][]byte{"kiln-0.2.0.efi": uki})
	name, got, err := FromISO(bytes.NewReader(img), int64(len(img)))
	if err != nil || name != "kiln-0.2.0.efi" {
		t.Fatalf("FromISO = %s, %v", name, err)
	}
	v, err := upgrade.VerifyInstall(got, upgrade.InstallEnv{EfivarsDir: efivars, PayloadDir: payloadDir,
		RunningVersion: "0.2.0", RunningPCRKey: ukitest.PCRKeyA, OSID: "kiln", ESPSize: layout.ESPSize})
	if err != nil {
		t.Fatal(err)
	}
	disk := newDisk(t, testDiskSize)
	res, err := Install(context.Background(), disk, testDiskSize, Options{UKI: v.Image, UKIName: v.Name, PayloadDir: payloadDir, ModTime: testEpoch})
	if err != nil {
		t.Fatal(err)
	}
	num, err := SetBootNext(efivars, res.Entry("Kiln"))
	if err != nil {
		t.Fatal(err)
	}
	found, err := Probe(disk, testDiskSize)
	if err != nil || !found.Kiln || !slices.Equal(found.KilnUKIs, []string{"kiln-0.2.0+3.efi"}) {
		t.Errorf("installed disk: %v, UKIs %q, %v", found.Kiln, found.KilnUKIs, err)
	}
	fsys, err := fat.Open(io.NewSectionReader(disk, res.ESP.Offset, res.ESP.Size), res.ESP.Size)
	if err != nil {
		t.Fatal(err)
	}
	if onDisk, err := fsys.ReadFile("EFI/Linux/kiln-0.2.0+3.efi", upgrade.MaxImageSize); err != nil || !bytes.Equal(onDisk, uki) {
		t.Errorf("the installed UKI differs from the ISO's (%v)", err)
	}
	if _, next, err := efivar.Read(efivars, "BootNext", efivar.GlobalVariable); err != nil || !bytes.Equal(next, []byte{byte(num), byte(num >> 8)}) {
		t.Errorf("BootNext %x, %v", next, err)
	}
}
