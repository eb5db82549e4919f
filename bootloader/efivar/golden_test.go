package efivar

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestGolden pins the bytes of the enrolment files made with the test keys
// (see testdata/README.md). Regenerate with -update only when the output is
// meant to change, after the oracle tests pass.
func TestGolden(t *testing.T) {
	files := map[string][]byte{"PK.esl": testESL(t, loadTestPair(t, "PK"))}
	for _, c := range enrolmentChain {
		files[c.name+".auth"] = buildAuth(t, c)
	}
	for name, got := range files {
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the golden file (first difference at %d)", name, firstDiff(got, want))
		}
	}
}
