package fat

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var testTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// pattern is n bytes that differ from file to file and from cluster to
// cluster, so a misplaced cluster shows in a comparison.
func pattern(seed string, n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%s:%d\n", seed, i)
	}
	return b.Bytes()[:n]
}

// espFiles is what the ESP holds, plus names that stress short-name
// generation, long-name slots and multi-cluster directories.
func espFiles() []File {
	files := []File{
		{"EFI/BOOT/BOOTX64.EFI", pattern("bootx64", 70000)},
		{"EFI/systemd/systemd-bootx64.efi", pattern("sdboot", 70000)},
		{"EFI/Linux/kiln-0.1.0+3.efi", pattern("uki-a", 300000)},
		{"EFI/Linux/kiln-0.1.0+2-1.efi", pattern("uki-b", 5000)},
		{"EFI/Linux/kiln-0.0.9.efi", pattern("uki-c", 4096)},
		{"loader/loader.conf", []byte("timeout 0\nsecure-boot-enroll force\n")},
		{"loader/keys/auto/PK.auth", pattern("pk", 2000)},
		{"loader/keys/auto/KEK.auth", pattern("kek", 2000)},
		{"loader/keys/auto/db.auth", pattern("db", 2000)},
		{"loader/random-seed", nil},
		{"/docs/café crème.txt", []byte("unicode\n")},
		{"docs/a name that needs three long-name slots.txt", []byte("long\n")},
		{"docs/README", []byte("exact 8.3\n")},
		{"docs/KILN-0~1.EFI", []byte("a real name that looks like a tail\n")},
		{"docs/kiln-0.1.0+9.efi", []byte("must not take KILN-0~1\n")},
		{"docs/.hidden.conf", []byte("leading period\n")},
	}
	for i := range 40 { // more entries than one small cluster holds
		files = append(files, File{fmt.Sprintf("many/file-with-a-long-name-%02d.data", i), pattern("many", i*37)})
	}
	return files
}

func writeImage(t *testing.T, opts Options, files []File) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fat.img")
	if err := WriteFile(p, opts, files); err != nil {
		t.Fatal(err)
	}
	return p
}

func readImage(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
