package machined

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/bootloader/efivar"
	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/bootmedium"
	"github.com/kiln-os/kiln/initd/configstate"
	"github.com/kiln-os/kiln/initd/disks"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/install"
	"github.com/kiln-os/kiln/initd/k8s"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/upgrade"
	"github.com/kiln-os/kiln/internal/digest"
	"github.com/kiln-os/kiln/internal/kubepayload"
	"github.com/kiln-os/kiln/internal/version"
	"github.com/kiln-os/kiln/pipeline/disk/fat"
	"github.com/kiln-os/kiln/pipeline/disk/layout"
)

// The boot entry's name, and how long the installer waits for an image and for the
// kernel to show the new partitions.
const (
	bootEntryName    = "Kiln"
	imageFetchBudget = 10 * time.Minute
	partitionWait    = 10 * time.Second
)

// installWanted reports whether the config asks for an install.
func installWanted(in config.Install) bool {
	return in.Disk != "" || in.DiskSelector != (config.DiskSelector{})
}

// installTask is the Install phase: a live boot (ISO or network) whose config has
// machine.install writes Kiln to the disk it names and reboots from it. An installed
// system ignores the section (it says where it was installed). A refusal (no such disk,
// a disk with data and no wipe, an image that does not verify) is reported and the node
// stays live: it never fails the boot, so the operator can fix the config over the API.
func (m *Machined) installTask(ctx context.Context, log logrus.FieldLogger) error {
	loaded := configstate.Current(m.Resources)
	if loaded == nil || !installWanted(loaded.Config.Machine.Install) {
		return nil
	}
	if !m.medium.Medium.Live() {
		log.Info("booted from disk: the config's install section is not acted on")
		return nil
	}
	if !m.install(ctx, log, loaded.Config) {
		return nil
	}
	// The reboot cancels the boot; the task did its work and is not a failure (the
	// runner stops before the next phase).
	<-ctx.Done()
	return nil
}

// installs tells the config applier whether this node installs cfg.
func (m *Machined) installs(cfg *config.Config) bool {
	return m.medium.Medium.Live() && installWanted(cfg.Machine.Install)
}

// installRunning is an install asked for by ApplyConfiguration on a live node that is
// already running (its boot's Install phase had no install section to act on).
func (m *Machined) installRunning(cfg *config.Config) {
	m.install(context.Background(), m.Log.WithField("component", "install"), cfg)
}

// install runs one install; on success it queues the reboot into the disk and reports
// true. A refusal (no such disk, a disk with data and no wipe, an image that does not
// verify) is an event; the node stays live so that the operator can fix the config. One
// install runs at a time.
func (m *Machined) install(ctx context.Context, log logrus.FieldLogger, cfg *config.Config) bool {
	if !m.installing.TryLock() {
		log.Warn("an install is already running")
		return false
	}
	defer m.installing.Unlock()
	inst := &installer{log: log, emit: m.emit, medium: m.medium.Medium, store: m.Resources, kube: m.kubePayload}
	if err := inst.run(ctx, cfg); err != nil {
		log.WithError(err).Error("install refused")
		m.emit(events.Event{Type: events.TypeInfo, Name: "install", State: "refused", Error: err.Error(), Fields: inst.fields()})
		return false
	}
	m.requestPower(request{reboot: true, reason: "boot the installed disk " + inst.target.Path})
	return true
}

// installer is one install, step by step; target is the disk once chosen.
type installer struct {
	log    logrus.FieldLogger
	emit   func(events.Event)
	medium bootmedium.Medium
	store  *resources.Store
	target install.Disk
	source string // where the UKI came from
	// kube is the Kubernetes payload this image pins (a zero Pin: none).
	kube k8s.Payload
}

func (in *installer) fields() map[string]string {
	f := map[string]string{"medium": string(in.medium)}
	if in.target.Path != "" {
		f["disk"] = in.target.Path
	}
	if in.source != "" {
		f["source"] = in.source
	}
	return f
}

func (in *installer) run(ctx context.Context, cfg *config.Config) error {
	spec := cfg.Machine.Install
	all, err := install.ListDisks("/sys/block", "/dev")
	if err != nil {
		return err
	}
	liveDisk := liveMediumDisk(all, in.medium)
	if in.target, err = install.Select(all, spec, liveDisk); err != nil {
		return err
	}
	in.emit(events.Event{Type: events.TypeInfo, Name: "install", State: events.StateStarted, Fields: in.fields()})
	dev, err := os.OpenFile(in.target.Path, os.O_RDWR|unix.O_EXCL|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", in.target.Path, err)
	}
	defer dev.Close()
	found, err := install.Probe(dev, in.target.Size)
	if err != nil {
		return err
	}
	if found.Kiln && !spec.Wipe {
		return in.bootInstalled(found)
	}
	if !found.Empty() && !spec.Wipe {
		return fmt.Errorf("%w: %s holds %s; set machine.install.wipe to erase it", install.ErrNotEmpty, in.target.Path, found)
	}
	image, err := in.image(ctx, spec, liveDisk)
	if err != nil {
		return err
	}
	key, err := runningPCRKey()
	if err != nil {
		return err
	}
	verified, err := upgrade.VerifyInstall(image, upgrade.InstallEnv{EfivarsDir: efivar.EfivarsDir, PayloadDir: install.PayloadDir,
		RunningVersion: version.Version, RunningPCRKey: key, OSID: osReleaseID(osRelease), ESPSize: layout.ESPSize})
	if err != nil {
		return fmt.Errorf("the UKI from %s: %w", in.source, err)
	}
	res, err := install.Install(ctx, dev, in.target.Size, install.Options{Wipe: spec.Wipe, UKI: verified.Image, UKIName: verified.Name,
		PayloadDir: install.PayloadDir, Extra: in.kubernetesFiles(), ModTime: time.Now().UTC(), Logf: in.log.Infof})
	if err != nil {
		return err
	}
	carried := in.carryConfig(ctx, dev, cfg) // closes dev: STATE's mapping needs the disk unclaimed
	num, err := install.SetBootNext(efivar.EfivarsDir, res.Entry(bootEntryName))
	if err != nil {
		return fmt.Errorf("installed, but the boot entry: %w", err)
	}
	f := in.fields()
	f["uki"], f["bootEntry"], f["config"] = verified.Name, fmt.Sprintf("Boot%04X", num), carried
	in.emit(events.Event{Type: events.TypeInfo, Name: "install", State: events.StateDone, Fields: f})
	return nil
}

// liveMediumDisk is the disk that holds the live ISO when it is a disk (the hybrid ISO
// written to a stick: an ISO 9660 volume at the start of a whole disk), "" otherwise (a
// CD is never an install target, and a netboot has no medium).
func liveMediumDisk(all []install.Disk, medium bootmedium.Medium) string {
	if medium != bootmedium.CDROM {
		return ""
	}
	for _, d := range all {
		f, err := os.Open(d.Path)
		if err != nil {
			continue
		}
		found, err := install.Probe(f, d.Size)
		f.Close()
		if err == nil && slices.ContainsFunc(found.Signatures, func(s install.Signature) bool { return s.Name == "iso9660" && s.Offset == isoMagicOffset }) {
			return d.Path
		}
	}
	return ""
}

// isoMagicOffset is where an ISO 9660 volume at the start of a disk has its first
// volume descriptor's "CD001" (sector 16 of 2048 bytes, after the type byte).
const isoMagicOffset = 16*2048 + 1

// image is the UKI to install: from the live ISO (the CD, or the stick it was written
// to), else machine.install.image (https, with its SHA-256), else the URL the boot
// server handed out with this node's DHCP lease.
func (in *installer) image(ctx context.Context, spec config.Install, liveDisk string) ([]byte, error) {
	if in.medium == bootmedium.CDROM {
		for _, path := range append([]string{liveDisk}, cdDevices()...) {
			if path == "" {
				continue
			}
			uki, err := ukiFromISO(path)
			if err == nil {
				in.source = path
				return uki, nil
			}
			in.log.WithError(err).WithField("device", path).Info("no Kiln ISO here")
		}
	}
	if spec.Image != "" {
		in.source = spec.Image
		return fetchImage(ctx, spec.Image, spec.ImageSHA256)
	}
	if url := bootServerURL(in.store); url != "" {
		in.source = url
		return fetchImage(ctx, url, "")
	}
	return nil, errors.New("no UKI to install: the boot medium holds none, machine.install.image is not set, and no DHCP server named a boot URL")
}

// kubernetesFiles is the Kubernetes payload this image pins, for the installed ESP
// (kubepayload.ESPDir), as disk.raw carries it: off the live ISO the UKI came from, else
// from this node's verified store. It is checked against the pin; without a good copy
// the install goes on without it, and the installed node asks for an import.
func (in *installer) kubernetesFiles() []fat.File {
	pin := in.kube.Pin
	if pin.SHA256 == "" {
		return nil
	}
	var data []byte
	var err error
	if in.medium == bootmedium.CDROM && strings.HasPrefix(in.source, "/dev/") {
		data, err = fileFromISO(in.source, kubepayload.ESPDir+"/"+pin.File, pin.Size)
	} else {
		data, err = os.ReadFile(filepath.Join(in.kube.StoreDir, pin.File))
	}
	if err == nil && (int64(len(data)) != pin.Size || digest.Bytes(data) != pin.SHA256) {
		err = fmt.Errorf("the payload to copy to the ESP: %w", k8s.ErrTampered)
	}
	if err != nil {
		in.log.WithError(err).Warn("the installed disk will not carry the Kubernetes payload (kilnctl image import brings it)")
		return nil
	}
	return []fat.File{{Path: kubepayload.ESPDir + "/" + pin.File, Data: data}}
}

func fileFromISO(path, name string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, err
	}
	return install.FileFromISO(f, size, name, max)
}

// cdDevices are the optical drives (/dev/sr*).
func cdDevices() []string {
	paths, _ := filepath.Glob("/dev/sr[0-9]*")
	return paths
}

func ukiFromISO(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, err
	}
	_, data, err := install.FromISO(f, size)
	return data, err
}

// bootServerURL is the first link's boot URL from its DHCP lease (network/BootServerStatus).
func bootServerURL(store *resources.Store) string {
	for _, r := range store.List(resources.NamespaceNetwork, resources.TypeBootServerStatus) {
		if s, ok := r.Spec.(*resources.BootServerStatusSpec); ok && s.URL != "" {
			return s.URL
		}
	}
	return ""
}

// fetchImage downloads a UKI, at most upgrade.MaxImageSize bytes, and checks its SHA-256
// when one is given. The content is verified afterwards as an upgrade is (signature,
// version): the URL and the transport are not trusted.
func fetchImage(ctx context.Context, url, sha string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, imageFetchBudget)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch %s: %s", url, resp.Status)
	}
	data, err := upgrade.ReadImage(resp.Body, 0)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", url, err)
	}
	if sha != "" {
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, sha) {
			return nil, fmt.Errorf("fetch %s: SHA-256 %s, machine.install.imageSha256 says %s", url, got, sha)
		}
	}
	return data, nil
}

// bootInstalled is a disk that already holds Kiln, with no wipe: it is not reinstalled.
// The node says so and boots it: BootNext names its ESP, and the node reboots.
func (in *installer) bootInstalled(found install.Found) error {
	if found.KilnESP == nil {
		return fmt.Errorf("%w: %s has Kiln's partitions, but its ESP is not one a boot entry can name; set machine.install.wipe to install again", install.ErrHoldsKiln, in.target.Path)
	}
	entry := *found.KilnESP
	entry.Description = bootEntryName
	num, err := install.SetBootNext(efivar.EfivarsDir, entry)
	if err != nil {
		return err
	}
	f := in.fields()
	f["reason"], f["bootEntry"] = "already holds Kiln; not reinstalled without wipe: booting it", fmt.Sprintf("Boot%04X", num)
	in.emit(events.Event{Type: events.TypeInfo, Name: "install", State: "refused", Fields: f})
	return nil
}

// carryConfig writes the applied config onto the new disk's STATE, sealed as the
// installed system will unseal it, and says what happened for the done event. When it
// cannot (Secure Boot not enforcing yet, say), the installed system starts without a
// config unless one comes from kiln.config= or fw_cfg.
//
// It closes dev: the installer holds the disk open exclusively (O_EXCL), and
// device-mapper cannot claim a partition of a disk held that way.
func (in *installer) carryConfig(ctx context.Context, dev *os.File, cfg *config.Config) string {
	err := unix.IoctlSetInt(int(dev.Fd()), unix.BLKRRPART, 0)
	dev.Close()
	if err != nil {
		in.log.WithError(err).Warn("re-read the new partition table")
		return "not carried: the kernel did not re-read the partition table: " + err.Error()
	}
	part, err := partitionDevice(ctx, in.target.Name, 2)
	if err != nil {
		return "not carried: " + err.Error()
	}
	policy, err := statePolicy(cmdline())
	if err == nil {
		err = disks.FillNewState(ctx, in.log, part, policy, func(dir string) error { return configstate.Persist(dir, cfg) })
	}
	if err != nil {
		in.log.WithError(err).Warn("the config was not carried to the installed STATE")
		return "not carried: " + err.Error()
	}
	return "carried"
}

// partitionDevice waits for the kernel to list partition n of disk (after BLKRRPART) and
// returns its device node, which devtmpfs creates.
func partitionDevice(ctx context.Context, disk string, n int) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, partitionWait)
	defer cancel()
	for {
		entries, _ := os.ReadDir(filepath.Join("/sys/block", disk))
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join("/sys/block", disk, e.Name(), "partition"))
			if err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(n) {
				dev := filepath.Join("/dev", e.Name())
				if _, err := os.Stat(dev); err == nil {
					return dev, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("partition %d of %s did not appear in %s", n, disk, partitionWait)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
