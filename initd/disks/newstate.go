package disks

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/initd/storage"
	"github.com/kiln-os/kiln/initd/storage/dm"
)

// The installer's STATE, open only while it is filled.
const (
	installStateMapper = "kiln-install-state"
	installStateMount  = "/run/kiln/install-state"
)

// FillNewState creates STATE on dev, the STATE partition of a disk the installer has just
// written, sealed as this boot seals its own: the installed UKI is the running one (the
// installer checks that), so the installed system's boot meets the same signed PCR 11
// policy, and the firmware's PCR 7 (Secure Boot state and keys) is the one it will boot
// with. fill writes into the mounted file system (the applied machine config); STATE is
// then synced, unmounted and closed again. With Secure Boot not enforcing, sealing refuses
// (and so does this) unless the policy allows it: the installed system then creates STATE
// itself on its first boot, after systemd-boot has enrolled the keys.
func FillNewState(ctx context.Context, log logrus.FieldLogger, dev string, policy Policy, fill func(dir string) error) (err error) {
	sealer, err := bootSealer()
	if err != nil {
		return err
	}
	sealer.skipPCR7, sealer.secureBootOptional = policy.SkipPCR7, policy.SecureBootOptional
	if err := os.MkdirAll(installStateMount, 0o700); err != nil {
		return err
	}
	st := &storage.State{Device: dev, Sealer: sealer, MapperName: installStateMapper, Mountpoint: installStateMount, RequireTPM: policy.RequireTPM, Log: log}
	res, err := st.Open(ctx)
	if err != nil {
		return fmt.Errorf("STATE (%s): %w", dev, err)
	}
	defer func() {
		unix.Sync()
		err = errors.Join(err, unix.Unmount(installStateMount, 0), dm.Remove(installStateMapper))
	}()
	if !res.Created {
		return fmt.Errorf("STATE (%s) was not blank: the installer fills only the STATE it creates", dev)
	}
	if res.Unencrypted {
		log.Warn("the installed STATE is not encrypted: this machine has no usable TPM")
	}
	return fill(installStateMount)
}
