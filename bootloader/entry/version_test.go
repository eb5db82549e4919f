package entry

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/oracle"
)

// systemdOrder is the ordered list of systemd's TEST(strverscmp_improved)
// (src/test/test-string-util.c), oldest first.
var systemdOrder = []string{
	"~1", "", "ab", "abb", "abc", "0001", "002", "12", "122", "122.9", "123~rc1", "123",
	"123-a", "123-a.1", "123-a1", "123-a1.1", "123-3", "123-3.1", "123^patch1", "123^1",
	"123.a-1", "123.1-1", "123a-1", "124",
}

func TestCompareVersionsOrder(t *testing.T) {
	for i, older := range systemdOrder {
		if CompareVersions(older, older) != 0 {
			t.Errorf("%q != itself", older)
		}
		for _, newer := range systemdOrder[i+1:] {
			if CompareVersions(older, newer) != -1 || CompareVersions(newer, older) != 1 {
				t.Errorf("want %q older than %q", older, newer)
			}
		}
	}
}

// versionPairs are further cases, each checked against systemd-analyze
// when it is installed; want is the sign of CompareVersions(a, b).
var versionPairs = []struct {
	a, b string
	want int
}{
	{"00123", "123", 0}, {"123_a", "123a", 0}, {"1.0", "1", 1}, {"1-1", "1", 1}, {"1~rc", "1", -1},
	{"0", "x", 1}, {"1.0", "1.x", 1}, {"00", "", 1}, {"0.10.0", "0.9.0", 1}, {"1.0~rc1", "1.0~rc2", -1},
	{"kiln-0.1.0+3.efi", "kiln-0.1.0.efi", 1}, {"kiln-0.2.0+1-2.efi", "kiln-0.2.0+2-1.efi", -1},
	{"kiln-0.1.0+0-3.efi", "kiln-0.1.0+3.efi", -1}, {"a", "A", 1}, {"ä1", "1", 0},
}

func TestCompareVersionsPairs(t *testing.T) {
	for _, p := range versionPairs {
		if got := CompareVersions(p.a, p.b); got != p.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", p.a, p.b, got, p.want)
		}
		if got := CompareVersions(p.b, p.a); got != -p.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", p.b, p.a, got, -p.want)
		}
	}
}

// TestCompareVersionsOracle asks systemd 252's own implementation
// (`systemd-analyze compare-versions`, the same strverscmp_improved that
// systemd-boot is built with) about every pair.
func TestCompareVersionsOracle(t *testing.T) {
	oracle.Require(t, "systemd-analyze", "systemd")
	if out, err := exec.Command("systemd-analyze", "compare-versions", "1", "2").Output(); err != nil && len(out) == 0 {
		t.Skipf("systemd-analyze has no compare-versions (needs systemd 252 or later): %v", err)
	}
	var all [][2]string
	for i := range systemdOrder {
		for j := i + 1; j < len(systemdOrder); j += 5 { // a sample keeps the test quick
			all = append(all, [2]string{systemdOrder[i], systemdOrder[j]})
		}
	}
	for _, p := range versionPairs {
		all = append(all, [2]string{p.a, p.b})
	}
	for _, p := range all {
		if got, want := CompareVersions(p[0], p[1]), systemdCompare(t, p[0], p[1]); got != want {
			t.Errorf("CompareVersions(%q, %q) = %d, systemd-analyze says %d", p[0], p[1], got, want)
		}
	}
}

// systemdCompare runs systemd-analyze compare-versions, which exits 0 for
// equal, 11 for a newer and 12 for a older.
func systemdCompare(t *testing.T, a, b string) int {
	t.Helper()
	out, err := exec.Command("systemd-analyze", "compare-versions", a, b).CombinedOutput()
	code := 0
	if exitErr, ok := err.(*exec.ExitError); ok {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	switch code {
	case 0:
		return 0
	case 11:
		return 1
	case 12:
		return -1
	}
	t.Fatalf("systemd-analyze compare-versions %q %q: exit %d: %s", a, b, code, strings.TrimSpace(string(out)))
	return 0
}
