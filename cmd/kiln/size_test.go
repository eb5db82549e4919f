package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestSizeUsage(t *testing.T) {
	for _, args := range [][]string{{"size"}, {"size", "a", "b"}, {"size", "--top"}} {
		if err := run(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{}); !errors.Is(err, errUsage) {
			t.Errorf("kiln %v: got %v, want a usage error", args, err)
		}
	}
}

// kiln size on the binsize fixture (built with symbols) prints both tables, this module among them.
func TestSizeTables(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "hello")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "../../internal/binsize/testdata/hello")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"size", "--top", "40", bin}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| module | bytes | share |", "| package | bytes | share |", "| `std` |", "| `github.com/kiln-os/kiln` |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
