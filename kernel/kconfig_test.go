package kernel

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func parse(t *testing.T, s string) Config {
	t.Helper()
	c, err := ParseConfig("test.config", strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestParseConfig(t *testing.T) {
	c := parse(t, `#
# Automatically generated file; DO NOT EDIT.
CONFIG_A=y
# CONFIG_B is not set
CONFIG_C="a string with spaces"
CONFIG_D=0x1000
CONFIG_E=-1

`)
	want := map[string]string{"CONFIG_A": "y", "CONFIG_B": "n", "CONFIG_C": `"a string with spaces"`, "CONFIG_D": "0x1000", "CONFIG_E": "-1"}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("%s = %q, want %q", k, c[k], v)
		}
	}
	if got := c.Get("CONFIG_ABSENT"); got != "n" {
		t.Errorf("absent symbol = %q, want n", got)
	}
}

func TestParseConfigErrorsNameFileAndLine(t *testing.T) {
	for _, bad := range []string{"CONFIG_A=y\nNOT_A_SYMBOL=y\n", "CONFIG_A=\n", `CONFIG_S="unterminated` + "\n", "CONFIG_A=two words\n"} {
		_, err := ParseConfig("frag.config", strings.NewReader(bad))
		if !errors.Is(err, ErrConfigSyntax) {
			t.Errorf("%q: err = %v, want ErrConfigSyntax", bad, err)
			continue
		}
		if !strings.Contains(err.Error(), "frag.config:") {
			t.Errorf("%q: error %q does not name the file and line", bad, err)
		}
	}
}

func TestMergeLaterFragmentOverrides(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "00-base.config"), "CONFIG_A=y\nCONFIG_B=y\nCONFIG_N=1\n")
	write(t, filepath.Join(dir, "10-override.config"), "# CONFIG_B is not set\nCONFIG_N=2\nCONFIG_C=y\n")
	write(t, filepath.Join(dir, "resolved-x86_64.config"), "CONFIG_IGNORED=y\n")
	frags, err := ReadFragments(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(frags) != 2 || frags[0].Name != "00-base.config" {
		t.Fatalf("fragments = %+v, want the two fragments in name order without resolved-*", frags)
	}
	m := Merge(frags)
	want := Config{"CONFIG_A": "y", "CONFIG_B": "n", "CONFIG_N": "2", "CONFIG_C": "y"}
	if d := Diff(want, m); d != "" {
		t.Errorf("merge differs:\n%s", d)
	}
}

func TestVerifyFindsDroppedAndChangedSymbols(t *testing.T) {
	want := Config{"CONFIG_A": "y", "CONFIG_DROPPED": "y", "CONFIG_OFF": "n", "CONFIG_NUM": "32"}
	got := Config{"CONFIG_A": "y", "CONFIG_NUM": "28", "CONFIG_OTHER": "y"}
	m := Verify(want, got)
	if len(m) != 2 {
		t.Fatalf("mismatches = %+v, want 2", m)
	}
	if m[0] != (Mismatch{"CONFIG_DROPPED", "y", "n"}) || m[1] != (Mismatch{"CONFIG_NUM", "32", "28"}) {
		t.Errorf("mismatches = %+v", m)
	}
	msg := (&MismatchError{m}).Error()
	for _, s := range []string{"CONFIG_DROPPED: want y, got n", "CONFIG_NUM: want 32, got 28"} {
		if !strings.Contains(msg, s) {
			t.Errorf("error %q lacks %q", msg, s)
		}
	}
}

func TestDriftDetection(t *testing.T) {
	dir := t.TempDir()
	resolvedPath := filepath.Join(dir, "resolved.config")
	write(t, resolvedPath, "CONFIG_A=y\n# CONFIG_B is not set\n")
	b := &Builder{ResolvedPath: resolvedPath}
	b.defaults()
	if err := b.checkDrift(Config{"CONFIG_A": "y", "CONFIG_B": "n"}, nil); err != nil {
		t.Fatalf("same config reported drift: %v", err)
	}
	err := b.checkDrift(Config{"CONFIG_A": "y", "CONFIG_B": "y"}, nil)
	if !errors.Is(err, ErrDrift) || !strings.Contains(err.Error(), "-CONFIG_B=n\n+CONFIG_B=y") {
		t.Fatalf("drift error = %v, want ErrDrift with a diff", err)
	}
	b.RefreshResolved = true
	if err := b.checkDrift(Config{"CONFIG_A": "y", "CONFIG_B": "y"}, []byte("CONFIG_A=y\nCONFIG_B=y\n")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(resolvedPath); string(got) != "CONFIG_A=y\nCONFIG_B=y\n" {
		t.Errorf("refresh wrote %q", got)
	}
}

func TestMissingResolvedConfigIsDrift(t *testing.T) {
	b := &Builder{ResolvedPath: filepath.Join(t.TempDir(), "none.config")}
	b.defaults()
	if err := b.checkDrift(Config{}, nil); !errors.Is(err, ErrDrift) {
		t.Fatalf("err = %v, want ErrDrift", err)
	}
}

func TestBytesRoundTrip(t *testing.T) {
	c := Config{"CONFIG_B": "n", "CONFIG_A": "y", "CONFIG_S": `"x y"`}
	again := parse(t, string(c.Bytes()))
	if d := Diff(c, again); d != "" {
		t.Errorf("round trip differs:\n%s", d)
	}
	if !strings.HasPrefix(string(c.Bytes()), "CONFIG_A=y\n") {
		t.Errorf("Bytes not sorted: %q", c.Bytes())
	}
}

func TestVerifySourceNamesPackageAndHash(t *testing.T) {
	cache := t.TempDir()
	err := verifySource(filepath.Join(cache, "missing.tar.xz"), cache, SourceSHA256)
	if !errors.Is(err, ErrSource) || !strings.Contains(err.Error(), SourcePackage) || !strings.Contains(err.Error(), SourceSHA256) {
		t.Fatalf("missing tarball: %v", err)
	}
	other := filepath.Join(cache, "other.tar.xz")
	write(t, other, "not the kernel")
	err = verifySource(other, cache, SourceSHA256)
	if !errors.Is(err, ErrSource) || !strings.Contains(err.Error(), SourceSHA256) {
		t.Fatalf("wrong tarball: %v", err)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_S=\"x\"\n"))
	f.Add([]byte("#\n\nCONFIG_N=0x10\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig("fuzz", strings.NewReader(string(data)))
		if err != nil {
			return
		}
		// Whatever parses must survive a round trip through Bytes unchanged.
		again, err := ParseConfig("again", strings.NewReader(string(c.Bytes())))
		if err != nil {
			t.Fatalf("re-parse of %q: %v", c.Bytes(), err)
		}
		if d := Diff(c, again); d != "" {
			t.Fatalf("round trip differs:\n%s", d)
		}
	})
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
