package entry

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		name      string
		want      Entry
		canonical string // Name(); "" means the name itself
	}{
		{"kiln-0.1.0+3.efi", Entry{Stem: "kiln-0.1.0", Counting: true, Left: 3, SortKey: OSID, Version: "0.1.0"}, ""},
		{"kiln-0.1.0+2-1.efi", Entry{Stem: "kiln-0.1.0", Counting: true, Left: 2, Done: 1, SortKey: OSID, Version: "0.1.0"}, ""},
		{"kiln-0.1.0+0-3.efi", Entry{Stem: "kiln-0.1.0", Counting: true, Left: 0, Done: 3, SortKey: OSID, Version: "0.1.0"}, ""},
		{"kiln-0.1.0.efi", Entry{Stem: "kiln-0.1.0", SortKey: OSID, Version: "0.1.0"}, ""},
		{"kiln-1.2~rc1^g1_x.efi", Entry{Stem: "kiln-1.2~rc1^g1_x", SortKey: OSID, Version: "1.2~rc1^g1_x"}, ""},
		// Rules of systemd-boot 252's config_entry_parse_tries():
		{"some+name+24324-22.efi", Entry{Stem: "some+name", Counting: true, Left: 24324, Done: 22}, ""}, // the last "+"
		{"a+1-2..efi", Entry{Stem: "a+1-2."}, ""},                                                       // junk after the counter
		{"abc+0x4.efi", Entry{Stem: "abc+0x4"}, ""},                                                     // not digits
		{"def+1-0x3.efi", Entry{Stem: "def+1-0x3"}, ""},                                                 // DONE not digits
		{"kiln+3-.efi", Entry{Stem: "kiln+3-"}, ""},                                                     // DONE needs a digit
		{"kiln+.efi", Entry{Stem: "kiln+"}, ""},                                                         // LEFT needs a digit
		{"kiln+3-1-2.efi", Entry{Stem: "kiln+3-1-2"}, ""},                                               // counter in the middle
		{"kiln+2147483647.efi", Entry{Stem: "kiln", Counting: true, Left: 2147483647}, ""},              // INT_MAX
		{"kiln+2147483648.efi", Entry{Stem: "kiln+2147483648"}, ""},                                     // > INT_MAX: no counter
		{"kiln+1-99999999999999999999.efi", Entry{Stem: "kiln+1-99999999999999999999"}, ""},             // overflow
		{"kiln+03.efi", Entry{Stem: "kiln", Counting: true, Left: 3}, "kiln+3.efi"},                     // leading zero
		{"kiln+4-0.efi", Entry{Stem: "kiln", Counting: true, Left: 4}, "kiln+4.efi"},                    // "-0"
		{"kiln-x+y.efi", Entry{Stem: "kiln-x+y"}, ""},                                                   // "+" in a non-version
		{"kiln-.efi", Entry{Stem: "kiln-"}, ""},                                                         // no version
	}
	for _, c := range cases {
		got, err := Parse(c.name)
		if err != nil || got != c.want {
			t.Errorf("Parse(%q) = %+v, %v\n want %+v", c.name, got, err, c.want)
			continue
		}
		want := c.canonical
		if want == "" {
			want = c.name
		}
		if got.Name() != want {
			t.Errorf("Parse(%q).Name() = %q, want %q", c.name, got.Name(), want)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, name := range []string{
		"", ".efi", "kiln.EFI", "kiln.conf", "kiln", ".kiln.efi", "auto-kiln.efi", "+3.efi", "+3-1.efi",
		"a/b.efi", `a\b.efi`, "a\x00.efi", "a\nb.efi", "kiln\x7f.efi",
	} {
		if e, err := Parse(name); !errors.Is(err, ErrName) {
			t.Errorf("Parse(%q) = %+v, %v; want ErrName", name, e, err)
		}
	}
}

func TestFreshBlessedBad(t *testing.T) {
	fresh := Fresh("0.1.0")
	if fresh != "kiln-0.1.0+3.efi" {
		t.Fatalf("Fresh = %q", fresh)
	}
	// systemd-boot renames before each try: LEFT-1, DONE+1.
	series := []string{"kiln-0.1.0+3.efi", "kiln-0.1.0+2-1.efi", "kiln-0.1.0+1-2.efi", "kiln-0.1.0+0-3.efi"}
	e, _ := Parse(fresh)
	for i, want := range series {
		if e.Name() != want || e.Bad() != (i == 3) || e.Blessed() != "kiln-0.1.0.efi" {
			t.Errorf("try %d: %q bad=%v blessed=%q; want %q", i, e.Name(), e.Bad(), e.Blessed(), want)
		}
		e.Left, e.Done = max(e.Left-1, 0), e.Done+1
	}
	blessed, _ := Parse("kiln-0.1.0.efi")
	if blessed.Bad() || blessed.Counting || blessed.Blessed() != "kiln-0.1.0.efi" {
		t.Errorf("blessed entry: %+v", blessed)
	}
	if id := (Entry{Stem: "Kiln-A", Counting: true, Left: 1}).ID(); id != "kiln-a+1.efi" {
		t.Errorf("ID = %q", id)
	}
}

func TestCheckVersion(t *testing.T) {
	for _, v := range []string{"0.1.0", "1.2~rc1", "1.0^git5", "2024_01", "1-2"} {
		if err := CheckVersion(v); err != nil {
			t.Errorf("CheckVersion(%q): %v", v, err)
		}
	}
	for _, v := range []string{"", "1+2", "1/2", "1 2", "ä"} {
		if err := CheckVersion(v); !errors.Is(err, ErrName) {
			t.Errorf("CheckVersion(%q) = %v, want ErrName", v, err)
		}
	}
}
