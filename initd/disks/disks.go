// Package disks is the Storage phase as this machine runs it, and what shutdown undoes:
// find STATE and EPHEMERAL by label, open STATE with this boot's TPM sealer (the signed
// PCR policy stage 1 carried over) and mount both (package storage does the mechanics);
// after "sysinit", check that STATE's key no longer unseals; on a reset, wipe what was
// asked; at shutdown, close STATE's mapping.
//
// The room: policy and wiring of the node's disks. It must not touch the ESP (package
// bootloader/entry and machined's blessing do), read the machine config (it lives on
// STATE, so nothing here may depend on it) or decide whether a TPM is required: the
// caller reads that from the signed kernel command line.
package disks

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/google/go-tpm/tpm2/transport"
	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/bootloader/efivar"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/mount"
	"github.com/kiln-os/kiln/initd/stage1"
	"github.com/kiln-os/kiln/initd/storage"
	"github.com/kiln-os/kiln/initd/storage/dm"
	"github.com/kiln-os/kiln/initd/storage/partition"
	"github.com/kiln-os/kiln/initd/storage/stateheader"
	"github.com/kiln-os/kiln/initd/tpmseal"
	"github.com/kiln-os/kiln/pipeline/disk/layout"
)

// Storage (DESIGN.md "Disk layout").
const (
	StateMount     = "/system/state"
	EphemeralMount = "/var"
	stateMapper    = "kiln-state"
	labelState     = layout.LabelState
	labelEphemeral = layout.LabelEphemeral
	// partitionWait bounds the wait for a disk while a driver still probes (partition.Wait
	// returns at once when none does): a safety net, reached only when a controller never
	// shows its disks; the machine then runs diskless.
	partitionWait = 5 * time.Second
	// TPMParam on the (signed) kernel command line makes a TPM mandatory: without one the
	// boot stops instead of keeping STATE unencrypted. It is a kernel parameter, not a
	// machine config field, because the config lives on STATE.
	TPMParam = "kiln.tpm"
	// PCR7Param=0 on the command line seals a new STATE key without PCR 7. By default the
	// key is bound to PCR 7 as well as to the signed PCR 11 policy: PCR 7 holds the Secure
	// Boot state and keys (PK, KEK, db, dbx), so a boot with Secure Boot off, or with
	// other keys, cannot unseal even if it replays the UKI's published PCR 11 measurements
	// (issue 12, hole 2). The price: changing the enrolled keys or dbx locks STATE until it
	// is reset. Like TPMParam it cannot live in the machine config, which is on STATE.
	PCR7Param = "kiln.tpm.pcr7"
	// SecureBootParam=optional lets a boot with Secure Boot off (SecureBoot=0, or the
	// firmware in setup mode) seal STATE's key anyway. Without it, sealing refuses there:
	// with Secure Boot off any pre-boot program can replay PCR 11 and unseal.
	SecureBootParam = "kiln.tpm.secureboot"
)

// Policy is what the signed kernel command line says about STATE's key.
type Policy struct {
	RequireTPM         bool // TPMParam=required
	SkipPCR7           bool // PCR7Param=0
	SecureBootOptional bool // SecureBootParam=optional
}

// PolicyFromCmdline reads Policy from the kernel command line's parameters (as
// kspp.ParseCmdline gives them). A value other than the documented ones is an error: a
// typo must not weaken the policy silently.
func PolicyFromCmdline(params map[string]string) (Policy, error) {
	var p Policy
	for _, rule := range []struct {
		name, want string
		set        *bool
	}{
		{TPMParam, "required", &p.RequireTPM},
		{PCR7Param, "0", &p.SkipPCR7},
		{SecureBootParam, "optional", &p.SecureBootOptional},
	} {
		value, present := params[rule.name]
		switch {
		case !present:
		case value == rule.want:
			*rule.set = true
		case rule.name == PCR7Param && value == "1": // the old opt-in, now the default
		default:
			return Policy{}, fmt.Errorf("kernel command line: %s=%q: the only value is %q", rule.name, value, rule.want)
		}
	}
	return p, nil
}

// MountState opens STATE (unsealing its key with the TPM) and mounts it on StateMount.
// Without a STATE partition the node is diskless: STATE is a directory on /system's tmpfs
// and nothing persists.
func MountState(ctx context.Context, log logrus.FieldLogger, emit func(events.Event), policy Policy) error {
	dev, err := waitPartition(ctx, labelState)
	if errors.Is(err, partition.ErrNotFound) {
		return StateInRAM(log, emit, err.Error())
	}
	if err != nil {
		return err
	}
	sealer, err := bootSealer()
	if err != nil {
		return err
	}
	sealer.skipPCR7, sealer.secureBootOptional = policy.SkipPCR7, policy.SecureBootOptional
	st := &storage.State{Device: dev, Sealer: sealer, MapperName: stateMapper, Mountpoint: StateMount, RequireTPM: policy.RequireTPM, Log: log}
	res, err := st.Open(ctx)
	if err != nil {
		return fmt.Errorf("STATE (%s): %w", dev, err)
	}
	fields := map[string]string{"device": dev, "mode": res.Mode, "created": fmt.Sprint(res.Created), "uuid": res.UUID}
	if res.Unencrypted {
		log.Warn("STATE is not encrypted: this machine has no usable TPM or was not booted from a signed UKI")
		fields["warning"] = "unencrypted: no TPM or no signed PCR policy"
	}
	emit(events.Event{Type: events.TypeInfo, Name: "state", State: "mounted", Fields: fields})
	return nil
}

// StateInRAM makes STATE a directory on /system's tmpfs: the node is diskless (reason
// says why) and its machine config does not persist.
func StateInRAM(log logrus.FieldLogger, emit func(events.Event), reason string) error {
	log.WithField("reason", reason).Warn("running diskless: the machine config will not persist")
	emit(events.Event{Type: events.TypeInfo, Name: "state", State: "diskless", Fields: map[string]string{"reason": reason}})
	return os.MkdirAll(StateMount, 0o700)
}

// EphemeralInRAM mounts the diskless /var (a tmpfs).
func EphemeralInRAM() error { return disklessVar.Do() }

// disklessVar is /var when there is no EPHEMERAL. It stays executable (container images
// unpack here) and gets half the RAM, the kernel's default made explicit because mount.Do
// wants every tmpfs bounded: a diskless node has nowhere else for images, and the other
// tmpfs mounts (machined's EarlyMounts) take about 160 MiB at most beside it.
// nr_inodes=128k is the kernel's default for 1 GiB of RAM (half the pages): room for
// image layers of many small files, at about 1 KiB of kernel memory per inode.
var disklessVar = mount.Mount{Source: "tmpfs", Target: EphemeralMount, FSType: "tmpfs", Flags: mount.NoSuidDev, Data: "mode=0755,size=50%,nr_inodes=128k"}

// MountEphemeral formats (first boot), mounts and grows EPHEMERAL on /var; diskless nodes
// get a tmpfs.
func MountEphemeral(ctx context.Context, log logrus.FieldLogger, emit func(events.Event)) error {
	dev, err := waitPartition(ctx, labelEphemeral)
	if errors.Is(err, partition.ErrNotFound) {
		return EphemeralInRAM()
	}
	if err != nil {
		return err
	}
	e := &storage.Ephemeral{Device: dev, Mountpoint: EphemeralMount, Log: log}
	res, err := e.Open(ctx)
	if err != nil {
		return fmt.Errorf("EPHEMERAL (%s): %w", dev, err)
	}
	emit(events.Event{Type: events.TypeInfo, Name: "ephemeral", State: "mounted",
		Fields: map[string]string{"device": dev, "formatted": fmt.Sprint(res.Formatted), "size": fmt.Sprint(res.Size)}})
	return nil
}

func waitPartition(ctx context.Context, label string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, partitionWait)
	defer cancel()
	dev, err := partition.Wait(ctx, partition.SysClass, label)
	if err != nil && ctx.Err() != nil {
		return "", fmt.Errorf("%w: %s did not appear within %s: %w", partition.ErrNotFound, label, partitionWait, err)
	}
	return dev, err
}

// tpmSealer seals STATE's key to the PCR public key of the booted UKI, using the signed
// policy that stage 1 carried over from systemd-stub's /.extra.
type tpmSealer struct {
	device       string
	signature    []byte // .pcrsig JSON
	publicKeyPEM []byte // .pcrpkey
	efivars      string // where the Secure Boot state is read (efivar.EfivarsDir)

	skipPCR7           bool // Policy.SkipPCR7: seal without PCR 7
	secureBootOptional bool // Policy.SecureBootOptional: seal with Secure Boot off
}

// bootSealer returns the TPM sealer of this boot, with the signed policy stage 1 handed
// over. A policy that does not decode is an error, not "no policy": it would otherwise
// look like an unsigned boot and leave STATE unencrypted.
func bootSealer() (*tpmSealer, error) {
	signature, err := envBase64(stage1.PCRSignatureEnv)
	if err != nil {
		return nil, err
	}
	publicKey, err := envBase64(stage1.PCRPublicKeyEnv)
	if err != nil {
		return nil, err
	}
	return &tpmSealer{device: tpmseal.Device, signature: signature, publicKeyPEM: publicKey, efivars: efivar.EfivarsDir}, nil
}

func envBase64(name string) ([]byte, error) {
	data, err := base64.StdEncoding.DecodeString(os.Getenv(name))
	if err != nil {
		return nil, fmt.Errorf("stage 1 handed over a corrupt %s: %w", name, err)
	}
	return data, nil
}

// Seal seals key; without a TPM, or without a signed policy to seal to, it returns
// storage.ErrNoTPM (STATE then runs plain, or the boot stops if a TPM is required).
func (s *tpmSealer) Seal(key []byte) ([]byte, error) {
	pub, tpm, err := s.openForSealing()
	if err != nil {
		return nil, err
	}
	defer tpm.Close()
	policy := tpmseal.Policy{PCRPublicKey: pub}
	if !s.skipPCR7 {
		if policy.PCR7, err = tpmseal.ReadPCR(tpm, 7); err != nil {
			return nil, err
		}
	}
	blob, err := tpmseal.Seal(tpm, key, policy)
	if err != nil {
		return nil, err
	}
	return blob.Marshal()
}

// Probe says whether Seal would seal: the same checks, without sealing. storage refuses
// a plain STATE header when it returns nil.
func (s *tpmSealer) Probe() error {
	_, tpm, err := s.openForSealing()
	if err != nil {
		return err
	}
	return tpm.Close()
}

// openForSealing parses the boot's PCR public key and opens the TPM. A missing key or
// TPM wraps storage.ErrNoTPM; a key that does not parse or a TPM that does not open
// for another reason is an error of its own.
func (s *tpmSealer) openForSealing() (*rsa.PublicKey, transport.TPMCloser, error) {
	if len(s.publicKeyPEM) == 0 {
		return nil, nil, fmt.Errorf("%w: the boot carries no PCR public key (not booted from a signed UKI)", storage.ErrNoTPM)
	}
	pub, err := tpmseal.ParsePublicKeyPEM(s.publicKeyPEM)
	if err != nil {
		return nil, nil, err
	}
	tpm, err := tpmseal.Open(s.device)
	if errors.Is(err, tpmseal.ErrNoTPM) {
		return nil, nil, fmt.Errorf("%w: %w", storage.ErrNoTPM, err)
	}
	if err != nil {
		return nil, nil, err
	}
	if err := s.checkSecureBoot(); err != nil {
		tpm.Close()
		return nil, nil, err
	}
	return pub, tpm, nil
}

// ErrSecureBootOff is why sealing refuses on a machine whose firmware does not enforce
// Secure Boot.
var ErrSecureBootOff = errors.New("Secure Boot is not enforcing")

// checkSecureBoot refuses sealing unless the firmware enforces Secure Boot (SecureBoot=1,
// SetupMode=0) or the command line opts out. A variable that cannot be read counts as off.
func (s *tpmSealer) checkSecureBoot() error {
	if s.secureBootOptional {
		return nil
	}
	enabled, sbErr := efivar.SecureBootEnabled(s.efivars)
	setup, setupErr := efivar.SetupMode(s.efivars)
	if sbErr == nil && setupErr == nil && enabled && !setup {
		return nil
	}
	state := fmt.Sprintf("SecureBoot=%s, SetupMode=%s", efiBool(enabled, sbErr), efiBool(setup, setupErr))
	return fmt.Errorf("%w (%s): STATE's key is not sealed, because with Secure Boot off any pre-boot program can replay PCR 11 and unseal it; "+
		"enrol Kiln's keys and turn Secure Boot on, or put %s=optional on the signed kernel command line to seal anyway", ErrSecureBootOff, state, SecureBootParam)
}

func efiBool(v bool, err error) string {
	switch {
	case err != nil:
		return "unreadable"
	case v:
		return "1"
	}
	return "0"
}

// Unseal opens a sealed key with this boot's signed policy.
func (s *tpmSealer) Unseal(data []byte) ([]byte, error) {
	if len(s.signature) == 0 || len(s.publicKeyPEM) == 0 {
		return nil, errors.New("STATE is sealed to the TPM, but this boot has no signed PCR policy (.pcrsig/.pcrpkey): boot a UKI signed with the same PCR key")
	}
	blob, err := tpmseal.ParseBlob(data)
	if err != nil {
		return nil, err
	}
	tpm, err := tpmseal.Open(s.device)
	if err != nil {
		return nil, fmt.Errorf("STATE is sealed to a TPM: %w", err)
	}
	defer tpm.Close()
	return tpmseal.Unseal(tpm, blob, s.signature, s.publicKeyPEM)
}

// VerifyLock runs after "sysinit" was extended into PCR 11: unsealing STATE's key must now
// fail, or anything running on the node could read the key. It reports the result as an
// event; a key that still unseals fails the boot.
func VerifyLock(log logrus.FieldLogger, emit func(events.Event)) error {
	blob := sealedBlob()
	if len(blob) == 0 {
		return nil // nothing sealed on this machine (no STATE, or plain mode)
	}
	sealer, err := bootSealer()
	if err != nil {
		return err
	}
	key, err := sealer.Unseal(blob)
	if err == nil {
		clear(key)
		emit(events.Event{Type: events.TypeInfo, Name: "tpm-lock", State: events.StateFailed, Error: "STATE's key still unseals after sysinit"})
		return errors.New("STATE's key still unseals after PCR 11 was extended with sysinit: the lock does not hold")
	}
	log.WithError(err).Info("STATE key locked for the rest of this boot")
	emit(events.Event{Type: events.TypeInfo, Name: "tpm-lock", State: "locked", Fields: map[string]string{"unseal": err.Error()}})
	return nil
}

// sealedBlob reads the sealed key from STATE's header; nil when STATE is absent or plain.
func sealedBlob() []byte {
	dev, err := partition.Find(partition.SysClassBlock, labelState)
	if err != nil {
		return nil
	}
	f, err := os.Open(dev)
	if err != nil {
		return nil
	}
	defer f.Close()
	h, _, err := stateheader.Read(f)
	if err != nil {
		return nil
	}
	return h.SealedKey
}

// CloseState removes STATE's device-mapper mapping once it is unmounted, so no key stays
// in the kernel while the machine powers off or reboots.
func CloseState(log logrus.FieldLogger) {
	if _, err := os.Stat("/dev/mapper/" + stateMapper); err != nil {
		return
	}
	if err := dm.Remove(stateMapper); err != nil {
		log.WithError(err).Warn("remove the STATE mapping")
	}
}
