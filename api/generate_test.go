package api

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/oracle"
)

// generated lists every file generate.sh writes, relative to api/.
var generated = []string{
	"machine/machine.pb.go",
	"machine/machine_grpc.pb.go",
	"security/security.pb.go",
	"security/security_grpc.pb.go",
}

func TestGeneratedCodeIsCurrent(t *testing.T) {
	oracle.Require(t, "protoc", "protobuf-compiler")
	oracle.Require(t, "bash", "bash")
	// protoc without recommends lacks the well-known types that machine.proto imports.
	oracle.RequireFile(t, "/usr/include/google/protobuf/timestamp.proto", "libprotobuf-dev")
	out := t.TempDir()
	cmd := exec.Command("bash", "generate.sh", out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generate.sh: %v\n%s", err, msg)
	}
	for _, name := range generated {
		committed, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		fresh, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		if d := firstDifference(committed, fresh); d != "" {
			t.Errorf("%s is stale, run `make generate` and commit it:\n%s", name, d)
		}
	}
}

// firstDifference describes the first line where committed and fresh differ, "" if none.
func firstDifference(committed, fresh []byte) string {
	if bytes.Equal(committed, fresh) {
		return ""
	}
	old := strings.Split(string(committed), "\n")
	cur := strings.Split(string(fresh), "\n")
	for i := 0; i < len(old) || i < len(cur); i++ {
		o, c := lineAt(old, i), lineAt(cur, i)
		if o != c {
			return fmt.Sprintf("line %d:\n-%s\n+%s", i+1, o, c)
		}
	}
	return "files differ"
}

func lineAt(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "<end of file>"
}
