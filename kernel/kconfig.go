package kernel

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// ErrConfigSyntax is returned for a .config or fragment line that is neither a symbol
// assignment, an "is not set" comment, a comment nor blank.
var ErrConfigSyntax = errors.New("kernel: config syntax")

// Config is a Kconfig configuration: symbol (with CONFIG_ prefix) → value, where an unset
// symbol has the value "n". Strings keep their double quotes, as in .config.
type Config map[string]string

var (
	setLine   = regexp.MustCompile(`^(CONFIG_[A-Za-z0-9_]+)=(.*)$`)
	unsetLine = regexp.MustCompile(`^# (CONFIG_[A-Za-z0-9_]+) is not set$`)
)

// ParseConfig reads a .config or a fragment. name is used in errors ("base.config:12: ...").
func ParseConfig(name string, r io.Reader) (Config, error) {
	cfg := Config{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for lineNo := 1; sc.Scan(); lineNo++ {
		line := strings.TrimSpace(sc.Text())
		if m := setLine.FindStringSubmatch(line); m != nil {
			if err := checkValue(m[2]); err != nil {
				return nil, fmt.Errorf("%w: %s:%d: %s: %v", ErrConfigSyntax, name, lineNo, m[1], err)
			}
			cfg[m[1]] = m[2]
			continue
		}
		if m := unsetLine.FindStringSubmatch(line); m != nil {
			cfg[m[1]] = "n"
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		return nil, fmt.Errorf("%w: %s:%d: %q is not CONFIG_X=value or '# CONFIG_X is not set'", ErrConfigSyntax, name, lineNo, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return cfg, nil
}

// checkValue accepts what Kconfig writes: y, m, n, numbers, hex and quoted strings.
func checkValue(v string) error {
	switch {
	case v == "":
		return errors.New("empty value")
	case strings.HasPrefix(v, `"`):
		if len(v) < 2 || !strings.HasSuffix(v, `"`) {
			return errors.New("unterminated string")
		}
	case strings.ContainsAny(v, " \t\""):
		return fmt.Errorf("value %q must be quoted", v)
	}
	return nil
}

// ReadConfig parses the file at path.
func ReadConfig(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseConfig(filepath.Base(path), f)
}

// Get returns a symbol's value, "n" when unset.
func (c Config) Get(sym string) string {
	if v, ok := c[sym]; ok {
		return v
	}
	return "n"
}

// Symbols returns the symbols in sorted order.
func (c Config) Symbols() []string {
	syms := make([]string, 0, len(c))
	for s := range c {
		syms = append(syms, s)
	}
	sort.Strings(syms)
	return syms
}

// Bytes renders the configuration in .config syntax, sorted by symbol, so that the same
// configuration always has the same bytes (and hash).
func (c Config) Bytes() []byte {
	var b bytes.Buffer
	for _, s := range c.Symbols() {
		if c[s] == "n" {
			fmt.Fprintf(&b, "# %s is not set\n", s)
		} else {
			fmt.Fprintf(&b, "%s=%s\n", s, c[s])
		}
	}
	return b.Bytes()
}

// Fragment is one named config fragment.
type Fragment struct {
	Name   string
	Config Config
}

// ReadFragments reads every *.config file in dir except resolved-*.config, in name order
// (so 00-base.config comes before 10-kspp.config and a later file overrides an earlier one).
func ReadFragments(dir string) ([]Fragment, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.config"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var frags []Fragment
	for _, p := range paths {
		if strings.HasPrefix(filepath.Base(p), "resolved-") {
			continue
		}
		cfg, err := ReadConfig(p)
		if err != nil {
			return nil, err
		}
		frags = append(frags, Fragment{Name: filepath.Base(p), Config: cfg})
	}
	if len(frags) == 0 {
		return nil, fmt.Errorf("kernel: no *.config fragments in %s", dir)
	}
	return frags, nil
}

// Merge combines fragments; a later fragment overrides an earlier one symbol by symbol.
func Merge(frags []Fragment) Config {
	out := Config{}
	for _, f := range frags {
		for s, v := range f.Config {
			out[s] = v
		}
	}
	return out
}

// Mismatch is a symbol a fragment asked for that Kconfig resolved differently.
type Mismatch struct {
	Symbol, Want, Got string
}

// Verify lists every symbol of want whose value in got differs (an absent symbol is "n").
func Verify(want, got Config) []Mismatch {
	var out []Mismatch
	for _, s := range want.Symbols() {
		if g := got.Get(s); g != want[s] {
			out = append(out, Mismatch{Symbol: s, Want: want[s], Got: g})
		}
	}
	return out
}

// MismatchError reports symbols that Kconfig dropped or changed.
type MismatchError struct{ Mismatches []Mismatch }

func (e *MismatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kernel: Kconfig did not keep %d requested symbol(s) (a dependency is missing or the symbol does not exist in this kernel):", len(e.Mismatches))
	for _, m := range e.Mismatches {
		fmt.Fprintf(&b, "\n  %s: want %s, got %s", m.Symbol, m.Want, m.Got)
	}
	return b.String()
}

// Diff returns a line diff of two configurations ("-SYM=old" / "+SYM=new"), empty when equal.
func Diff(old, new Config) string {
	syms := map[string]bool{}
	for s := range old {
		syms[s] = true
	}
	for s := range new {
		syms[s] = true
	}
	sorted := make([]string, 0, len(syms))
	for s := range syms {
		sorted = append(sorted, s)
	}
	sort.Strings(sorted)
	var b strings.Builder
	for _, s := range sorted {
		o, n := old.Get(s), new.Get(s)
		if o == n {
			continue
		}
		fmt.Fprintf(&b, "-%s=%s\n+%s=%s\n", s, o, s, n)
	}
	return b.String()
}
