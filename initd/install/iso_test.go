package install

import (
	"bytes"
	"errors"
	"testing"

	"github.com/kiln-os/kiln/pipeline/disk/fat"
	"github.com/kiln-os/kiln/pipeline/disk/iso"
)

// liveISO is a live ISO as the builder lays it out (pipeline stepISO): the ESP tree in
// a FAT boot image at EFI/EFIBOOT.IMG, El Torito and a hybrid MBR.
func liveISO(t *testing.T, ukis map[string][]byte) []byte {
	t.Helper()
	files := fakePayload()
	for name, data := range ukis {
		files = append(files, fat.File{Path: LinuxDir + "/" + name, Data: data})
	}
	const size = 8 << 20
	img := make(memDisk, size)
	if err := fat.Write(img, fat.Options{Size: size, Label: "KILN-ISO", ModTime: testEpoch}, files); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := iso.Write(&out, iso.Options{VolumeID: "KILN_0_1_0", ModTime: testEpoch, EFIBootImage: "EFI/EFIBOOT.IMG", HybridMBR: true},
		[]iso.File{{Path: "EFI/EFIBOOT.IMG", Data: img}, {Path: "kiln/manifest.json", Data: []byte("{}")}})
	if err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

type memDisk []byte

func (m memDisk) WriteAt(p []byte, off int64) (int, error) { return copy(m[off:], p), nil }

func TestFromISO(t *testing.T) {
	uki := fakeUKI()
	img := liveISO(t, map[string][]byte{"kiln-0.1.0.efi": uki})
	name, got, err := FromISO(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	if name != "kiln-0.1.0.efi" || !bytes.Equal(got, uki) {
		t.Errorf("FromISO = %s, %d bytes", name, len(got))
	}
	for what, ukis := range map[string]map[string][]byte{
		"no UKI":   {},
		"two UKIs": {"kiln-0.1.0.efi": uki, "kiln-0.0.9.efi": uki},
	} {
		img := liveISO(t, ukis)
		if _, _, err := FromISO(bytes.NewReader(img), int64(len(img))); !errors.Is(err, ErrNoUKI) {
			t.Errorf("%s: %v", what, err)
		}
	}
	if _, _, err := FromISO(bytes.NewReader(make([]byte, 1<<20)), 1<<20); !errors.Is(err, iso.ErrFormat) {
		t.Errorf("not an ISO: %v", err)
	}
}
