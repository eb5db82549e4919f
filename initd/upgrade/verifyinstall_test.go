package upgrade

import (
	"errors"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/bootloader/efivar"
	"github.com/kiln-os/kiln/internal/ukitest"
	"github.com/kiln-os/kiln/uki/authenticode"
)

// installEnv is a live boot of 0.2.0: newMachine's efivars, and its ESP directory as the
// payload (it holds loader/keys/auto/db.auth as the payload does).
func installEnv(m *machine) InstallEnv {
	return InstallEnv{EfivarsDir: m.efivars, PayloadDir: m.esp, RunningVersion: "0.2.0",
		RunningPCRKey: ukitest.PCRKeyA, OSID: "kiln", ESPSize: 512 << 20}
}

func TestVerifyInstall(t *testing.T) {
	for _, sb := range []struct {
		on   byte
		root Root
	}{{1, RootFirmwareDB}, {0, RootESPKeys}} {
		m := newMachine(t)
		m.setVar(t, "SecureBoot", efivar.GlobalVariable, []byte{sb.on})
		v, err := VerifyInstall(ukitest.Kiln("0.2.0").Build(t), installEnv(m))
		if err != nil {
			t.Fatalf("SecureBoot=%d: %v", sb.on, err)
		}
		if v.Root != sb.root || v.Name != "kiln-0.2.0+3.efi" || v.Version != "0.2.0" {
			t.Errorf("SecureBoot=%d: %+v", sb.on, *v)
		}
	}
}

func TestVerifyInstallRefuses(t *testing.T) {
	for _, c := range []struct {
		name  string
		image ukitest.UKI
		setup func(t *testing.T, m *machine, env *InstallEnv)
		check Check
		want  error
	}{
		{"a newer version", ukitest.Kiln("0.3.0"), nil, CheckVersion, ErrNotRunning},
		{"an older version", ukitest.Kiln("0.1.0"), nil, CheckVersion, ErrNotRunning},
		{"signed by another key", func() ukitest.UKI { u := ukitest.Kiln("0.2.0"); u.Key = "other"; return u }(), nil, CheckSignature, authenticode.ErrUntrusted},
		{"another .pcrpkey", func() ukitest.UKI { u := ukitest.Kiln("0.2.0"); u.PCRKey = ukitest.PCRKeyB; return u }(), nil, CheckPCRKey, ErrPCRKeyChanged},
		{"another OS", func() ukitest.UKI { u := ukitest.Kiln("0.2.0"); u.ID = "debian"; return u }(), nil, CheckOSRel, ErrNotKiln},
		{"KSPP parameter missing", func() ukitest.UKI {
			u := ukitest.Kiln("0.2.0")
			u.Cmdline = strings.Replace(u.Cmdline, "slab_nomerge", "", 1)
			return u
		}(), nil, CheckCmdline, ErrCmdline},
		{"Secure Boot off and no db.auth in the payload", ukitest.Kiln("0.2.0"), func(t *testing.T, m *machine, env *InstallEnv) {
			m.setVar(t, "SecureBoot", efivar.GlobalVariable, []byte{0})
			env.PayloadDir = t.TempDir()
		}, CheckSignature, ErrNoRoots},
		{"ESP too small", ukitest.Kiln("0.2.0"), func(t *testing.T, m *machine, env *InstallEnv) { env.ESPSize = 16 << 20 }, CheckSpace, ErrNoRoom},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newMachine(t)
			env := installEnv(m)
			if c.setup != nil {
				c.setup(t, m, &env)
			}
			_, err := VerifyInstall(c.image.Build(t), env)
			var refusal *Error
			if !errors.As(err, &refusal) || refusal.Check != c.check || !errors.Is(err, c.want) {
				t.Errorf("got %v, want a %s refusal with %v", err, c.check, c.want)
			}
		})
	}
}
