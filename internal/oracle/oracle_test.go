package oracle

import (
	"strings"
	"testing"
)

// recorder is a testing.TB that records how Require ended the test instead of ending it.
type recorder struct {
	testing.TB
	failed, skipped bool
	msg             string
}

func (r *recorder) Helper()                        {}
func (r *recorder) Fatalf(format string, _ ...any) { r.failed, r.msg = true, format }
func (r *recorder) Skipf(format string, _ ...any)  { r.skipped, r.msg = true, format }

const absentTool = "kiln-no-such-tool-anywhere"

func TestRequireFailsInCI(t *testing.T) {
	t.Setenv("CI", "true")
	r := &recorder{TB: t}
	Require(r, absentTool, "kiln-fixture-package")
	if !r.failed || r.skipped {
		t.Fatalf("under CI=true a missing tool: failed=%v skipped=%v, want a failure", r.failed, r.skipped)
	}
	if !strings.HasPrefix(r.msg, "CI: ") {
		t.Errorf("message %q does not say it failed because of CI", r.msg)
	}
}

func TestRequireSkipsOnADevelopersMachine(t *testing.T) {
	t.Setenv("CI", "")
	r := &recorder{TB: t}
	Require(r, absentTool, "kiln-fixture-package")
	if !r.skipped || r.failed {
		t.Fatalf("without CI a missing tool: failed=%v skipped=%v, want a skip", r.failed, r.skipped)
	}
}

func TestRequireFileFailsInCI(t *testing.T) {
	t.Setenv("CI", "1")
	r := &recorder{TB: t}
	RequireFile(r, "/nonexistent/kiln/fixture.proto", "kiln-fixture-package")
	if !r.failed {
		t.Fatal("under CI a missing file did not fail the test")
	}
}

func TestRequirePresentToolDoesNothing(t *testing.T) {
	t.Setenv("CI", "true")
	r := &recorder{TB: t}
	Require(r, "go", "golang")
	if r.failed || r.skipped {
		t.Fatalf("a present tool ended the test: %q", r.msg)
	}
}
