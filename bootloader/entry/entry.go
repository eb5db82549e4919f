// Package entry owns the names of Kiln's unified kernel images on the ESP
// (`EFI/Linux/`) and the boot counting they carry, as the UAPI Boot Loader
// Specification ("Boot counting") and systemd-boot 252 define them:
//
//	kiln-0.1.0+3.efi     fresh: three tries left, none used
//	kiln-0.1.0+2-1.efi   two left, one used (systemd-boot renamed it before booting)
//	kiln-0.1.0+0-3.efi   bad: no tries left; sorts last, so the older entry boots
//	kiln-0.1.0.efi       blessed: booted to ready, no counter
//
// The room: parsing and formatting those names, ordering entries the way
// systemd-boot 252 does, and the two file operations on a mounted ESP that
// the node performs: Bless (drop the counter of the booted entry) and Prune
// (remove old UKIs). It is a shared leaf: the builder names new UKIs with
// Fresh, machined blesses and prunes. It must not read EFI variables (the
// caller passes LoaderBootCountPath's value), parse PE files, or touch any
// file outside the EFI/Linux directory it is given.
package entry

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

const (
	// Prefix starts every Kiln UKI name; Prune never touches other files.
	Prefix = "kiln-"
	// Suffix ends every UKI name. systemd-boot 252 lists "*.efi" in any case
	// but counts tries only with exactly ".efi".
	Suffix = ".efi"
	// FreshTries is the try count a new UKI starts with.
	FreshTries = 3
	// OSID is the os-release ID (the systemd-boot sort key) of Kiln's UKIs.
	OSID = "kiln"
)

// maxTries is systemd-boot 252's bound on either counter (INT_MAX); a larger
// number makes the whole name counter-less.
const maxTries = 1<<31 - 1

// ErrName is returned, wrapped with the name, for a file name that is not a
// boot entry (or not one Kiln writes).
var ErrName = errors.New("entry: not a boot entry name")

// Entry is one UKI on the ESP, parsed from its file name.
type Entry struct {
	// Stem is the name without counter and Suffix, e.g. "kiln-0.1.0".
	Stem string
	// Counting is true when the name carries "+LEFT[-DONE]".
	Counting bool
	// Left and Done are the tries left and used; zero unless Counting.
	Left, Done int
	// SortKey and Version are the os-release ID (or IMAGE_ID) and version
	// that systemd-boot reads from the UKI's .osrel section to sort entries.
	// Parse fills them for Kiln names ("kiln-<version>"), whose .osrel holds
	// ID=kiln and VERSION_ID=<version> by construction; callers that read
	// another UKI's .osrel set them themselves.
	SortKey, Version string
}

// Parse parses a file name in EFI/Linux the way systemd-boot 252 does: the
// counter is the text after the last "+" when it is digits, optionally "-"
// and digits, then exactly ".efi"; anything else (e.g. "a+b.efi",
// "a+1-x.efi") is a name without a counter. Names that systemd-boot ignores
// (not ending in ".efi", starting with "." or "auto-") or that hold path
// separators or control characters are ErrName.
func Parse(name string) (Entry, error) {
	if err := checkName(name); err != nil {
		return Entry{}, err
	}
	e := Entry{Stem: strings.TrimSuffix(name, Suffix)}
	if plus := strings.LastIndexByte(name, '+'); plus >= 0 {
		if left, done, ok := parseCounter(name[plus+1:]); ok {
			e = Entry{Stem: name[:plus], Counting: true, Left: left, Done: done}
		}
	}
	if e.Stem == "" {
		return Entry{}, fmt.Errorf("%w: %q has an empty name before its counter", ErrName, name)
	}
	if v, ok := strings.CutPrefix(e.Stem, Prefix); ok && CheckVersion(v) == nil {
		e.SortKey, e.Version = OSID, v
	}
	return e, nil
}

func checkName(name string) error {
	switch {
	case !strings.HasSuffix(name, Suffix) || len(name) == len(Suffix):
		return fmt.Errorf("%w: %q does not end in %q", ErrName, name, Suffix)
	case strings.HasPrefix(name, ".") || strings.HasPrefix(name, "auto-"):
		return fmt.Errorf("%w: systemd-boot ignores %q", ErrName, name)
	case strings.ContainsAny(name, `/\`):
		return fmt.Errorf("%w: %q is a path", ErrName, name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: %q has a control character", ErrName, name)
		}
	}
	return nil
}

// parseCounter parses "LEFT[-DONE].efi": each at least one digit, at most
// maxTries, then exactly Suffix.
func parseCounter(s string) (left, done int, ok bool) {
	left, s, ok = parseTries(s)
	if !ok {
		return 0, 0, false
	}
	if rest, found := strings.CutPrefix(s, "-"); found {
		if done, s, ok = parseTries(rest); !ok {
			return 0, 0, false
		}
	}
	return left, done, s == Suffix
}

func parseTries(s string) (n int, rest string, ok bool) {
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	if end == 0 {
		return 0, s, false
	}
	v, err := strconv.ParseUint(s[:end], 10, 64)
	if err != nil || v > maxTries {
		return 0, s, false
	}
	return int(v), s[end:], true
}

// Name is the entry's file name: Stem, "+LEFT" and "-DONE" (only when DONE
// is not zero) if Counting, and Suffix. It equals the parsed name unless that
// had leading zeros or "-0" in its counter.
func (e Entry) Name() string {
	if !e.Counting {
		return e.Stem + Suffix
	}
	if e.Done == 0 {
		return fmt.Sprintf("%s+%d%s", e.Stem, e.Left, Suffix)
	}
	return fmt.Sprintf("%s+%d-%d%s", e.Stem, e.Left, e.Done, Suffix)
}

// String is Name.
func (e Entry) String() string { return e.Name() }

// ID is systemd-boot 252's entry ID for a UKI: the whole file name, counter
// included, in lower case. (So a loader.conf "default" would need a glob.)
func (e Entry) ID() string { return strings.ToLower(e.Name()) }

// Blessed is the name without the counter: what Bless renames the entry to.
func (e Entry) Blessed() string { return e.Stem + Suffix }

// Bad reports an entry that has used all its tries (LEFT is 0):
// systemd-boot sorts it last and boots it only if nothing else is left.
func (e Entry) Bad() bool { return e.Counting && e.Left == 0 }

// Fresh is the name of a newly installed UKI of version: "kiln-<version>+3.efi".
// version must pass CheckVersion (the image spec enforces the same rule).
func Fresh(version string) string {
	return Entry{Stem: Prefix + version, Counting: true, Left: FreshTries}.Name()
}

// CheckVersion accepts what the image spec accepts as a version: letters,
// digits and . ~ ^ _ -. A "+" would be read as a boot counter.
func CheckVersion(version string) error {
	if version == "" {
		return fmt.Errorf("%w: empty version", ErrName)
	}
	for _, r := range version {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".~^_-", r)
		if !ok {
			return fmt.Errorf("%w: version %q has %q (allowed: letters, digits, . ~ ^ _ -)", ErrName, version, r)
		}
	}
	return nil
}
