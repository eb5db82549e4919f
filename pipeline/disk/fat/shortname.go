package fat

import (
	"fmt"
	"strconv"
	"strings"
)

// shortName is an 8.3 name as stored: base and extension, space-padded.
type shortName [11]byte

func makeShortName(base, ext string) shortName {
	var s shortName
	copy(s[:], fmt.Sprintf("%-8s%-3s", base, ext))
	return s
}

// String is the name as users see it, "BASE.EXT".
func (s shortName) String() string {
	base := strings.TrimRight(string(s[:8]), " ")
	if ext := strings.TrimRight(string(s[8:]), " "); ext != "" {
		return base + "." + ext
	}
	return base
}

// checksum ties long-name entries to their short entry (fatgen103, "FAT
// Long Directory Entries"): a right rotation and add over the 11 bytes.
func (s shortName) checksum() byte {
	var sum byte
	for _, c := range s {
		sum = (sum&1)<<7 + sum>>1 + c
	}
	return sum
}

// isShortChar reports whether c may appear in a short name. Bytes above 127
// are allowed by FAT but depend on the OEM code page, so they are not used.
func isShortChar(c rune) bool {
	return c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("$%'-_@~`!(){}^#&", c)
}

// basis makes the fatgen103 basis name of long: upper case, invalid
// characters as "_", spaces and leading periods dropped, the primary part
// before the last period cut to 8 and the extension to 3. lossy reports that
// anything but case changed, so the name needs a numeric tail.
func basis(long string) (base, ext string, lossy bool) {
	var b strings.Builder
	for _, r := range long {
		switch {
		case r == ' ':
			lossy = true
		case r == '.' || isShortChar(r):
			b.WriteRune(r)
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		default:
			b.WriteByte('_')
			lossy = true
		}
	}
	name := strings.TrimLeft(b.String(), ".")
	lossy = lossy || len(name) != b.Len()
	base = name
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		base, ext = name[:i], name[i+1:]
	}
	if strings.Contains(base, ".") {
		base, lossy = strings.ReplaceAll(base, ".", ""), true
	}
	if len(base) > 8 {
		base, lossy = base[:8], true
	}
	if len(ext) > 3 {
		ext, lossy = ext[:3], true
	}
	if base == "" {
		base, lossy = "_", true
	}
	return base, ext, lossy
}

// assignShortNames gives the children of one directory unique short names.
// Names that fit 8.3 as they are (up to case) are reserved first; the others
// then get the first free numeric tail, in the children's (sorted) order.
func assignShortNames(children []*node) error {
	used := make(map[shortName]bool, len(children))
	var tailed []*node
	for _, c := range children {
		base, ext, lossy := basis(c.name)
		s := makeShortName(base, ext)
		if lossy || used[s] {
			tailed = append(tailed, c)
			continue
		}
		c.short, c.lfn, used[s] = s, c.name != s.String(), true
	}
	for _, c := range tailed {
		s, err := withTail(c.name, used)
		if err != nil {
			return err
		}
		c.short, c.lfn, used[s] = s, true, true
	}
	return nil
}

// withTail finds the first free "BASE~N.EXT" for long.
func withTail(long string, used map[shortName]bool) (shortName, error) {
	base, ext, _ := basis(long)
	for n := 1; n <= 999999; n++ {
		tail := "~" + strconv.Itoa(n)
		b := base
		if len(b)+len(tail) > 8 {
			b = b[:8-len(tail)]
		}
		if s := makeShortName(b+tail, ext); !used[s] {
			return s, nil
		}
	}
	return shortName{}, fmt.Errorf("%w: no short name left for %q", ErrExist, long)
}

// checkLabel accepts "" or up to 11 upper-case short-name characters and
// inner spaces.
func checkLabel(label string) error {
	if len(label) > 11 || strings.TrimSpace(label) != label {
		return fmt.Errorf("%w: label %q is longer than 11 bytes or has outer spaces", ErrOptions, label)
	}
	for _, r := range label {
		if r != ' ' && !isShortChar(r) {
			return fmt.Errorf("%w: label %q has %q (use A-Z, 0-9, space and $%%'-_@~`!(){}^#&)", ErrOptions, label, r)
		}
	}
	return nil
}
