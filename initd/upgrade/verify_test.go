package upgrade

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/bootloader/efivar"
	"github.com/kiln-os/kiln/internal/testpki"
	"github.com/kiln-os/kiln/internal/ukitest"
	"github.com/kiln-os/kiln/uki/authenticode"
)

func TestVerifyAccepts(t *testing.T) {
	for _, sb := range []struct {
		on   byte
		root Root
	}{{1, RootFirmwareDB}, {0, RootESPKeys}} {
		m := newMachine(t)
		m.setVar(t, "SecureBoot", efivar.GlobalVariable, []byte{sb.on})
		v, err := Verify(ukitest.Kiln("0.3.0").Build(t), m.env, Options{})
		if err != nil {
			t.Fatalf("SecureBoot=%d: %v", sb.on, err)
		}
		if v.Root != sb.root || v.Name != "kiln-0.3.0+3.efi" || v.Version != "0.3.0" || v.Downgrade || v.PCRKeyChanged {
			t.Errorf("SecureBoot=%d: Verified = %+v", sb.on, *v)
		}
		if v.Booted != "kiln-0.2.0.efi" || v.PreviousGood != "kiln-0.1.0.efi" || len(v.Prune) != 0 {
			t.Errorf("SecureBoot=%d: booted %q, previous %q, prune %q", sb.on, v.Booted, v.PreviousGood, v.Prune)
		}
	}
}

// TestVerifyRefuses feeds every bad input of issue 13 (and more) to Verify:
// each is refused by the check that names it, and the ESP is byte-identical.
func TestVerifyRefuses(t *testing.T) {
	good := func(t *testing.T) []byte { return ukitest.Kiln("0.3.0").Build(t) }
	cases := []struct {
		name  string
		image func(t *testing.T) []byte
		setup func(t *testing.T, m *machine, o *Options)
		check Check
		want  error
	}{
		{name: "signed by a key not in db", check: CheckSignature, want: authenticode.ErrUntrusted,
			image: func(t *testing.T) []byte { u := ukitest.Kiln("0.3.0"); u.Key = "other"; return u.Build(t) }},
		{name: "byte flipped in .cmdline", check: CheckSignature, want: authenticode.ErrDigest,
			image: func(t *testing.T) []byte { b := good(t); return ukitest.FlipInSection(t, b, ".cmdline") }},
		{name: "byte flipped in the signature", check: CheckSignature,
			image: func(t *testing.T) []byte { b := good(t); return ukitest.Flip(b, len(b)-40) }},
		{name: "not a PE file", check: CheckPE,
			image: func(*testing.T) []byte { return []byte("#!/bin/sh\necho not a UKI\n") }},
		{name: "oversize", check: CheckSize, want: ErrTooLarge, image: good,
			setup: func(t *testing.T, m *machine, o *Options) { o.MaxSize = 4096 }},
		{name: "cut off half-way", image: func(t *testing.T) []byte { b := good(t); return b[:len(b)/2] }},
		{name: "different .pcrpkey without force", check: CheckPCRKey, want: ErrPCRKeyChanged,
			image: func(t *testing.T) []byte { u := ukitest.Kiln("0.3.0"); u.PCRKey = ukitest.PCRKeyB; return u.Build(t) }},
		{name: "no .pcrpkey without force", check: CheckPCRKey, want: ErrPCRKeyChanged,
			image: func(t *testing.T) []byte { u := ukitest.Kiln("0.3.0"); u.PCRKey = nil; return u.Build(t) }},
		{name: "older version without allow-downgrade", check: CheckVersion, want: ErrDowngrade,
			image: func(t *testing.T) []byte { return ukitest.Kiln("0.1.9").Build(t) }},
		{name: "older by UAPI order (pre-release)", check: CheckVersion, want: ErrDowngrade,
			image: func(t *testing.T) []byte { return ukitest.Kiln("0.2.0~rc1").Build(t) }},
		{name: "the running version", check: CheckVersion, want: ErrAlreadyInstalled,
			image: func(t *testing.T) []byte { return ukitest.Kiln("0.2.0").Build(t) },
			setup: func(t *testing.T, m *machine, o *Options) { o.AllowDowngrade = true }},
		{name: "KSPP parameter missing from .cmdline", check: CheckCmdline, want: ErrCmdline,
			image: func(t *testing.T) []byte {
				u := ukitest.Kiln("0.3.0")
				u.Cmdline = strings.Replace(u.Cmdline, "slab_nomerge", "", 1)
				return u.Build(t)
			}},
		{name: "KSPP parameter with another value in .cmdline", check: CheckCmdline, want: ErrCmdline,
			image: func(t *testing.T) []byte {
				u := ukitest.Kiln("0.3.0")
				u.Cmdline = strings.Replace(u.Cmdline, "pti=on", "pti=off", 1)
				return u.Build(t)
			}},
		{name: "another OS", check: CheckOSRel, want: ErrNotKiln,
			image: func(t *testing.T) []byte { u := ukitest.Kiln("0.3.0"); u.ID = "debian"; return u.Build(t) }},
		{name: "no VERSION_ID", check: CheckOSRel, want: ErrNotKiln,
			image: func(t *testing.T) []byte { return ukitest.Kiln("").Build(t) }},
		{name: "VERSION_ID with a plus", check: CheckOSRel, want: ErrNotKiln,
			image: func(t *testing.T) []byte { return ukitest.Kiln("0.3.0+1").Build(t) }},
		{name: "firmware db does not hold the signer", check: CheckSignature, want: authenticode.ErrUntrusted, image: good,
			setup: func(t *testing.T, m *machine, o *Options) {
				m.setVar(t, "db", efivar.ImageSecurityDatabase, eslOf(t, testpki.LoadPair(t, keyDir, "other").Cert.Raw, efivar.CertX509))
			}},
		{name: "image hash in dbx", check: CheckSignature, want: ErrRevoked, image: good,
			setup: func(t *testing.T, m *machine, o *Options) {
				h, err := authenticode.Hash(good(t))
				if err != nil {
					t.Fatal(err)
				}
				m.setVar(t, "dbx", efivar.ImageSecurityDatabase, eslOf(t, h, certSHA256))
			}},
		{name: "Secure Boot off and no db.auth on the ESP", check: CheckSignature, want: ErrNoRoots, image: good,
			setup: func(t *testing.T, m *machine, o *Options) {
				m.setVar(t, "SecureBoot", efivar.GlobalVariable, []byte{0})
				m.env.ESPDir = t.TempDir() // no loader/keys/auto/db.auth there
			}},
		{name: "no room even after the prune", check: CheckSpace, want: ErrNoRoom, image: good,
			setup: func(t *testing.T, m *machine, o *Options) {
				m.write(t, m.linux+"/kiln-0.0.9.efi", make([]byte, 4096)) // prunable: counts as room
				m.env.FreeSpace = func(string) (uint64, uint64, error) { return 4096, 4096, nil }
			}},
		{name: "booted UKI not on the ESP", check: CheckESP, want: ErrBootedMissing, image: good,
			setup: func(t *testing.T, m *machine, o *Options) { m.env.Booted = "kiln-0.2.0+2-1.efi" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newMachine(t)
			var opts Options
			if c.setup != nil {
				c.setup(t, m, &opts)
			}
			image := c.image(t)
			before := m.snapshot(t)
			v, err := Verify(image, m.env, opts)
			var refusal *Error
			if !errors.As(err, &refusal) {
				t.Fatalf("Verify = %v, %v; want a refusal", v, err)
			}
			if c.check == "" { // a cut stream fails parsing or the signature, whichever sees it first
				if refusal.Check != CheckPE && refusal.Check != CheckSignature {
					t.Errorf("refused by %q: %v", refusal.Check, err)
				}
			} else if refusal.Check != c.check {
				t.Errorf("refused by %q, want %q: %v", refusal.Check, c.check, err)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("error %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), string(refusal.Check)) {
				t.Errorf("error %q does not name its check", err)
			}
			if after := m.snapshot(t); !sameSnapshot(before, after) {
				t.Errorf("the ESP changed: %q -> %q", sortedKeys(before), sortedKeys(after))
			}
		})
	}
}

func TestVerifyAllowsWhenAsked(t *testing.T) {
	m := newMachine(t)
	v, err := Verify(ukitest.Kiln("0.1.9").Build(t), m.env, Options{AllowDowngrade: true})
	if err != nil || !v.Downgrade {
		t.Errorf("downgrade allowed: %+v, %v", v, err)
	}
	u := ukitest.Kiln("0.3.0")
	u.PCRKey = ukitest.PCRKeyB
	v, err = Verify(u.Build(t), m.env, Options{ForcePCRKeyChange: true})
	if err != nil || !v.PCRKeyChanged {
		t.Errorf("PCR key change forced: %+v, %v", v, err)
	}
}

func TestVerifyPlansThePrune(t *testing.T) {
	m := newMachine(t)
	for _, n := range []string{"kiln-0.0.9.efi", "kiln-0.2.5+0-3.efi", "kiln-0.2.9+3.efi", "notes.txt"} {
		m.write(t, m.linux+"/"+n, []byte(n))
	}
	v, err := Verify(ukitest.Kiln("0.3.0").Build(t), m.env, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"kiln-0.0.9.efi", "kiln-0.2.5+0-3.efi", "kiln-0.2.9+3.efi"}
	if !slices.Equal(v.Prune, want) {
		t.Errorf("Prune = %q, want %q", v.Prune, want)
	}
}

// endless is a stream that never ends: a client sending 300 MiB and more.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	e.n += int64(len(p))
	return len(p), nil
}

type cutStream struct{ left int }

func (c *cutStream) Read(p []byte) (int, error) {
	if c.left == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n := min(len(p), c.left)
	c.left -= n
	return n, nil
}

func TestReadImage(t *testing.T) {
	const limit = 1 << 20
	src := &endless{}
	_, err := ReadImage(src, limit)
	var refusal *Error
	if !errors.As(err, &refusal) || refusal.Check != CheckSize || !errors.Is(err, ErrTooLarge) {
		t.Errorf("endless stream: %v", err)
	}
	if src.n > 2*limit {
		t.Errorf("read %d bytes of an endless stream with a limit of %d", src.n, limit)
	}
	if _, err := ReadImage(&cutStream{left: 1000}, limit); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("cut stream: %v", err)
	}
	b, err := ReadImage(io.LimitReader(&endless{}, limit), limit)
	if err != nil || len(b) != limit {
		t.Errorf("exactly the limit: %d bytes, %v", len(b), err)
	}
	if MaxImageSize != 256<<20 {
		t.Errorf("MaxImageSize = %d, issue 13 says 256 MiB", MaxImageSize)
	}
}
