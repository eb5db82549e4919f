package binsize

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestPackageOf(t *testing.T) {
	for sym, want := range map[string]string{
		"github.com/vishvananda/netlink.(*Handle).prepareRouteReq":         "github.com/vishvananda/netlink",
		"crypto/internal/fips140/sha3.keccakF1600.abi0":                    "crypto/internal/fips140/sha3",
		"type:*net/http.Request":                                           "net/http",
		"go:itab.*net.TCPConn,net.Conn":                                    "net",
		"google.golang.org/grpc.(*Server).serve[...]":                      "google.golang.org/grpc",
		"github.com/a/b.Map[go.shape.string,github.com/c/d.T].Get":         "github.com/a/b",
		"vendor/golang.org/x/crypto/chacha20poly1305.chacha20Poly1305Seal": "vendor/golang.org/x/crypto/chacha20poly1305",
		"go:func.*":                          "(linker) go:func.*",
		"type:.eq.time.ParseError":           "time",
		"gopkg.in/yaml%2ev3.(*parser).parse": "gopkg.in/yaml.v3",
		"github.com/kiln-os/kiln/initd/machined.(*Machined).applyConfig.func1": "github.com/kiln-os/kiln/initd/machined",
	} {
		if got := PackageOf(sym); got != want {
			t.Errorf("PackageOf(%q) = %q, want %q", sym, got, want)
		}
	}
}

// build links the fixture binary with the given ldflags.
func build(t *testing.T, ldflags string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hello")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags="+ldflags, "-o", bin, "./testdata/hello")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// The fixture has symbols and build info; this module, yaml.v3 and the standard library
// are in it, and what is counted adds up and does not exceed the file.
func TestAnalyzeFixture(t *testing.T) {
	r, err := Analyze(build(t, "-buildid="))
	if err != nil {
		t.Fatal(err)
	}
	if r.SymbolBytes <= 0 || r.SymbolBytes > r.FileBytes {
		t.Errorf("symbol bytes %d, file %d: want 0 < symbols ≤ file", r.SymbolBytes, r.FileBytes)
	}
	found := map[string]bool{}
	var sum int64
	for _, m := range r.Modules {
		found[m.Name] = true
		sum += m.Bytes
	}
	for _, want := range []string{"std", "github.com/kiln-os/kiln", "gopkg.in/yaml.v3", "(no symbol) .gopclntab"} {
		if !found[want] {
			t.Errorf("no row for %s in %v", want, r.Modules)
		}
	}
	if sum != r.SymbolBytes {
		t.Errorf("modules add up to %d, symbols to %d", sum, r.SymbolBytes)
	}
}

func TestAnalyzeStrippedBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := build(t, "-s -w")
	if _, err := Analyze(bin); !errors.Is(err, ErrNoSymbols) {
		t.Errorf("Analyze(stripped) = %v, want ErrNoSymbols", err)
	}
}
