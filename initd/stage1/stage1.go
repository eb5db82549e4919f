// Package stage1 is /init in the initramfs: mount /dev, /proc and /sys with hardened flags,
// extend PCR 11 with "enter-initrd", attach /rootfs.sqsh to a loop device read-only, mount
// it, extend "leave-initrd", bind itself (/init, machined) over the root's /sbin/init, move
// the early mounts into it, switch root and exec /sbin/init (machined).
//
// It runs as PID 1 for a second or so and must not fail silently: every error reaches the
// console, and the caller shows it for a while, then reboots (boot counting then falls back
// to the previous UKI) instead of exiting and letting the kernel panic.
package stage1

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/initd/mount"
	"github.com/kiln-os/kiln/initd/pcrphase"
	"github.com/kiln-os/kiln/measure/pcr"
)

// Paths of the initramfs layout written by the rootfs package.
const (
	RootImage = "/rootfs.sqsh"
	NewRoot   = "/newroot"
	Init      = "/sbin/init"
	// Self is this binary in the initramfs: machined, stored once in the image. The root
	// filesystem's Init is an empty file that stage 1 binds Self over.
	Self = "/init"
)

// earlyMounts are what stage 1 needs before it can find the root image; they move into the
// new root unchanged.
var earlyMounts = []mount.Mount{
	{Source: "devtmpfs", Target: "/dev", FSType: "devtmpfs", Flags: unix.MS_NOSUID | unix.MS_NOEXEC, Data: "mode=0755"},
	{Source: "proc", Target: "/proc", FSType: "proc", Flags: mount.NoSuidDevExec},
	{Source: "sysfs", Target: "/sys", FSType: "sysfs", Flags: mount.NoSuidDevExec},
}

// SwitchRootError is returned by Run when everything is ready: the caller (PID 1's one exit
// path) execs Init in the new root, adding Env to its environment.
type SwitchRootError struct {
	Init string
	Env  []string
}

func (e *SwitchRootError) Error() string { return "switch root: exec " + e.Init }

// Run prepares the new root and returns *SwitchRootError on success.
func Run(logf func(format string, args ...any)) error {
	if err := mount.All(earlyMounts, logf); err != nil {
		return err
	}
	var env []string
	env = append(env, measurePhase(pcr.PhaseEnterInitrd, logf)...)
	root, err := mountRoot()
	if err != nil {
		return err
	}
	logf("mounted %s", root)
	env = append(env, measurePhase(pcr.PhaseLeaveInitrd, logf)...)
	env = append(env, pcrPolicyEnv(logf)...)
	if err := bindInit(Self, filepath.Join(NewRoot, Init)); err != nil {
		return err
	}
	for _, m := range earlyMounts {
		if err := mount.Move(m.Target, filepath.Join(NewRoot, m.Target)); err != nil {
			return err
		}
	}
	if err := switchRoot(NewRoot); err != nil {
		return err
	}
	return &SwitchRootError{Init: Init, Env: env}
}

// PCR11Env names the variable that carries PCR 11 after a stage-1 phase to machined, which
// reports it: "KILN_PCR11_ENTER_INITRD=sha256=<hex>,sha384=<hex>".
func PCR11Env(phase string) string {
	return "KILN_PCR11_" + strings.ToUpper(strings.ReplaceAll(phase, "-", "_"))
}

// measurePhase extends PCR 11 with the phase word and returns the values it reads back as
// an environment entry. A machine without a TPM measures nothing (machined warns).
func measurePhase(phase string, logf func(string, ...any)) []string {
	bankNames := pcrphase.Banks(pcrphase.Sysfs)
	if len(bankNames) == 0 {
		return nil
	}
	if err := pcrphase.Extend(pcrphase.Device, bankNames, phase); err != nil {
		logf("measure %s: %v", phase, err)
		return nil
	}
	var parts []string
	for _, bank := range bankNames {
		parts = append(parts, bank+"="+pcrphase.Read(pcrphase.Sysfs)[bank])
	}
	logf("measured %s into PCR 11", phase)
	return []string{PCR11Env(phase) + "=" + strings.Join(parts, ",")}
}

// What systemd-stub 252 hands the initrd from the UKI's .pcrsig and .pcrpkey sections
// (its cpio of /.extra, see the strings in linuxx64.efi.stub), and the variables that carry
// them to machined, which unseals STATE with them. Both are public: the signature and the
// public key are also readable in the signed UKI on the ESP.
const (
	ExtraPCRSignature = "/.extra/tpm2-pcr-signature.json"
	ExtraPCRPublicKey = "/.extra/tpm2-pcr-public-key.pem"
	PCRSignatureEnv   = "KILN_PCR_SIGNATURE"
	PCRPublicKeyEnv   = "KILN_PCR_PUBLIC_KEY"
	maxExtraFile      = 64 << 10
)

// pcrPolicyEnv reads the signed PCR policy and its key from /.extra, which stays behind in
// the initramfs after the switch root, and returns them base64-encoded as environment
// entries. A UKI without them (direct kernel boot) yields none.
func pcrPolicyEnv(logf func(string, ...any)) []string {
	var env []string
	for _, f := range []struct{ path, name string }{{ExtraPCRSignature, PCRSignatureEnv}, {ExtraPCRPublicKey, PCRPublicKeyEnv}} {
		data, err := os.ReadFile(f.path)
		if err != nil || len(data) > maxExtraFile {
			continue
		}
		env = append(env, f.name+"="+base64.StdEncoding.EncodeToString(data))
	}
	if len(env) > 0 {
		logf("signed PCR policy from the UKI: %d of 2 files", len(env))
	}
	return env
}

// bindInit binds machined, the initramfs's /init, over the root's /sbin/init (an empty
// file in the squashfs), read-only, nosuid and nodev. machined is then in the image once,
// not also in the squashfs (6 MB of the UKI), and /sbin/init is still machined for the
// services that are its modes. The bind moves into the new root with it, and keeps the
// initramfs file in use under the switched root, as the loop device keeps rootfs.sqsh.
func bindInit(self, target string) error {
	if err := unix.Mount(self, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s over %s: %w", self, target, err)
	}
	// A bind ignores every flag but MS_REC; a remount sets them (mount(2), MS_REMOUNT).
	if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("make %s read-only: %w", target, err)
	}
	return nil
}

// switchRoot makes dir the root: chdir, move it over /, chroot. The initramfs stays in
// memory underneath: the loop device still reads rootfs.sqsh from it.
func switchRoot(dir string) error {
	if err := unix.Chdir(dir); err != nil {
		return &os.PathError{Op: "chdir", Path: dir, Err: err}
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move %s to /: %w", dir, &os.PathError{Op: "mount", Path: "/", Err: err})
	}
	if err := unix.Chroot("."); err != nil {
		return &os.PathError{Op: "chroot", Path: dir, Err: err}
	}
	if err := unix.Chdir("/"); err != nil {
		return &os.PathError{Op: "chdir", Path: "/", Err: err}
	}
	return nil
}

// mountRoot mounts the root image read-only on NewRoot, through a loop device.
func mountRoot() (mount.Mount, error) {
	backing, err := os.Open(RootImage)
	if err != nil {
		return mount.Mount{}, fmt.Errorf("root image: %w", err)
	}
	defer backing.Close()
	return mount.Loop(backing, mount.Mount{Target: NewRoot, FSType: "squashfs", Flags: unix.MS_RDONLY | unix.MS_NODEV})
}
