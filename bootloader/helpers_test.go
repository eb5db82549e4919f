package bootloader

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kiln-os/kiln/bootloader/keys"
	"github.com/kiln-os/kiln/internal/oracle"
)

// testEpoch stands for SOURCE_DATE_EPOCH in the tests.
var testEpoch = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

var (
	keysOnce sync.Once
	keysDir  string
	keySet   *keys.Set
	keysErr  error
)

// testKeys generates one key set per test binary (RSA generation is slow)
// and returns it with its directory (for the external tools).
func testKeys(t *testing.T) (*keys.Set, string) {
	t.Helper()
	keysOnce.Do(func() {
		var tmp string
		if tmp, keysErr = os.MkdirTemp("", "kiln-bootloader-test-"); keysErr != nil {
			return
		}
		keysDir = filepath.Join(tmp, "_keys")
		if keysErr = keys.Generate(keysDir, "Kiln Test", rand.Reader, testEpoch); keysErr != nil {
			return
		}
		keySet, keysErr = keys.Load(keysDir)
	})
	if keysErr != nil {
		t.Fatal(keysErr)
	}
	return keySet, keysDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if keysDir != "" {
		os.RemoveAll(filepath.Dir(keysDir))
	}
	os.Exit(code)
}

// fakeSystemdBoot is enough of systemd-boot for IsSystemdBoot.
func fakeSystemdBoot() []byte {
	return []byte("MZ...#### LoaderInfo: systemd-boot 252.39-1~deb12u2 ####...")
}

// appendSign is a stand-in for authenticode.Sign: it appends a marker.
func appendSign(image []byte) []byte {
	return append(append([]byte(nil), image...), "SIGNED"...)
}

// toolPackage names the Debian package of each tool these tests run.
var toolPackage = map[string]string{
	"bootctl":            "systemd-boot",
	"sbsign":             "sbsigntool",
	"sbverify":           "sbsigntool",
	"qemu-system-x86_64": "qemu-system-x86",
}

func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		oracle.Require(t, tool, toolPackage[tool])
	}
}

// writeTree writes files under dir.
func writeTree(t *testing.T, dir string, files []File) {
	t.Helper()
	for _, f := range files {
		path := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
