package qemu

import (
	"io"
	"time"
)

// DefaultTimeout bounds every wait whose context has no deadline of its own.
const DefaultTimeout = 10 * time.Minute

// Defaults for a VM started without the matching option.
const (
	DefaultMemoryMiB = 1024
	DefaultCPUs      = 2
	DefaultLogDir    = "_out/qemu-logs"
	defaultBinary    = "qemu-system-x86_64"
	defaultSwtpm     = "swtpm"
)

// Option configures a VM before Start.
type Option func(*config)

// config is everything Start needs to build the QEMU command line. Each option fills one
// field; args turns it into argv without touching the system.
type config struct {
	binary    string
	name      string
	logDir    string
	memoryMiB int
	cpus      int
	nice      int
	accel     string // "" means Accel()
	noReboot  bool
	kernel    *directKernel
	uefi      *uefiFirmware
	drives    []drive
	userNet   *userNet
	labNIC    *labNIC
	netFirst  bool // the lab NIC boots before the drives
	events    bool
	serialTee io.Writer
	tpm       *softTPM
	extraArgs []string
	logf      func(format string, args ...any)
}

// directKernel is a kernel booted by QEMU itself (-kernel), without firmware boot manager.
type directKernel struct {
	vmlinuz, initrd, cmdline string
}

// uefiFirmware is OVMF as two pflash devices: read-only code and a writable vars file.
type uefiFirmware struct {
	code string
	// varsTemplate is copied to a fresh vars file per VM; varsFile is used in place.
	// Exactly one is set.
	varsTemplate string
	varsFile     string
}

type driveKind int

const (
	driveDisk driveKind = iota
	driveCDROM
)

// drive is a disk or a CD-ROM; the order of options is the firmware boot order.
type drive struct {
	kind driveKind
	path string
}

// softTPM is a TPM 2.0 emulated by swtpm, a process of its own started before QEMU and
// stopped after it. Its state lives in stateDir, which outlives the VM.
type softTPM struct {
	binary   string
	stateDir string
}

// userNet is QEMU's user-mode network (slirp) on a virtio NIC.
type userNet struct {
	forwards []Forward
}

// labNIC is a virtio NIC on a tap device that exists only inside the network namespace
// netns (a lab network, qemu/lab); QEMU runs inside that namespace to open it.
type labNIC struct {
	netns, tap, mac string
}

// Forward forwards a TCP port on the host's loopback to a port of the guest.
type Forward struct {
	HostPort  int
	GuestPort int
}

func defaultConfig() config {
	return config{
		binary:    defaultBinary,
		memoryMiB: DefaultMemoryMiB,
		cpus:      DefaultCPUs,
		logf:      func(string, ...any) {},
	}
}

// WithKernel boots vmlinuz directly (QEMU's -kernel), with an optional initrd and command
// line (empty strings leave them out).
func WithKernel(vmlinuz, initrd, cmdline string) Option {
	return func(c *config) { c.kernel = &directKernel{vmlinuz, initrd, cmdline} }
}

// WithMemory sets the guest memory in MiB.
func WithMemory(mib int) Option { return func(c *config) { c.memoryMiB = mib } }

// WithCPUs sets the number of virtual CPUs.
func WithCPUs(n int) Option { return func(c *config) { c.cpus = n } }

// WithNice runs QEMU (all its threads: nice(1) sets it before QEMU starts) at niceness
// n, so that a VM that can wait yields the host's cores to one that cannot.
func WithNice(n int) Option { return func(c *config) { c.nice = n } }

// WithLogDir sets the folder for <name>.log and its siblings (default DefaultLogDir,
// relative to the module root when there is one).
func WithLogDir(dir string) Option { return func(c *config) { c.logDir = dir } }

// WithName names the VM: QEMU's -name and the log file names. Characters other than
// letters, digits, '.', '_' and '-' become '_' (so t.Name() works). Two VMs running at
// once in one log folder need different names. Default: vm-<pid>-<n>.
func WithName(name string) Option { return func(c *config) { c.name = name } }

// WithEvents adds the virtio-serial port kiln.events and collects its events.
func WithEvents() Option { return func(c *config) { c.events = true } }

// WithSerialStdout copies the serial console to w as it arrives (for `kiln run`). A
// failing w is dropped; it never stalls the guest.
func WithSerialStdout(w io.Writer) Option { return func(c *config) { c.serialTee = w } }

// WithExtraArgs appends raw arguments to the QEMU command line.
func WithExtraArgs(args ...string) Option {
	return func(c *config) { c.extraArgs = append(c.extraArgs, args...) }
}

// WithNoReboot makes a guest reset exit QEMU (-no-reboot). Not for Secure Boot enrolment
// boots: systemd-boot resets the machine after enrolling keys.
func WithNoReboot() Option { return func(c *config) { c.noReboot = true } }

// WithAccel forces the accelerator ("kvm" or "tcg") instead of Accel().
func WithAccel(accel string) Option { return func(c *config) { c.accel = accel } }

// WithLogf sets the harness's logger (e.g. t.Logf). Default: silent.
func WithLogf(logf func(format string, args ...any)) Option {
	return func(c *config) { c.logf = logf }
}

// WithUEFI boots OVMF with Secure Boot capable settings (SMM, secure pflash). The vars
// template is copied to <logdir>/<name>.vars.fd at each Start, so every VM begins in the
// template's state (setup mode for OVMF_VARS_4M.fd) and the result stays for inspection.
func WithUEFI(codePath, varsTemplate string) Option {
	return func(c *config) { c.uefi = &uefiFirmware{code: codePath, varsTemplate: varsTemplate} }
}

// WithUEFIVars is WithUEFI with an existing vars file used in place, so a second VM sees
// the keys and variables an earlier one left (pass the earlier VM's VarsPath()).
func WithUEFIVars(codePath, varsFile string) Option {
	return func(c *config) { c.uefi = &uefiFirmware{code: codePath, varsFile: varsFile} }
}

// WithDisk attaches a raw disk image as a virtio-blk device, writable.
func WithDisk(path string) Option {
	return func(c *config) { c.drives = append(c.drives, drive{driveDisk, path}) }
}

// WithCDROM attaches an ISO image as a read-only SATA CD-ROM.
func WithCDROM(path string) Option {
	return func(c *config) { c.drives = append(c.drives, drive{driveCDROM, path}) }
}

// WithUserNet adds a virtio NIC on QEMU's user-mode network (guest 10.0.2.15, DHCP from
// QEMU) with the given TCP forwards from 127.0.0.1 on the host.
func WithUserNet(forwards ...Forward) Option {
	return func(c *config) { c.userNet = &userNet{forwards: forwards} }
}

// WithTPM gives the VM a TPM 2.0 (a tpm-tis device backed by swtpm) whose state lives in
// stateDir. The folder is created if missing and kept: a later VM with the same stateDir
// sees the same TPM (its keys, NV indexes and sealed objects), as after a reboot. An empty
// folder is a new TPM, manufactured on first use. Two VMs running at once need different
// folders (swtpm locks it). The firmware sends TPM2_Startup, so PCRs start afresh each
// boot; OVMF measures the boot into them.
func WithTPM(stateDir string) Option {
	return func(c *config) { c.tpm = &softTPM{binary: defaultSwtpm, stateDir: stateDir} }
}

// WithLabNIC gives the VM a virtio NIC with MAC address mac on the tap device tap, which
// lives in the network namespace netns: a lab network's tap (qemu/lab: Lab.AddTap returns
// all three). QEMU then runs inside netns, started as `ip netns exec <netns>
// qemu-system-x86_64 …`; ip execs QEMU, so Pid, Kill and Wait are QEMU's own. The NIC
// has no option ROM (romfile=), so OVMF drives it with its own virtio-net driver and can
// netboot from it (PXE and UEFI HTTP Boot; Debian's iPXE ROMs are unsigned). It boots
// after the drives, or first with WithNetBootFirst. It is the VM's only NIC: WithUserNet
// beside it is refused, since slirp would route out of the lab.
func WithLabNIC(netns, tap, mac string) Option {
	return func(c *config) { c.labNIC = &labNIC{netns: netns, tap: tap, mac: mac} }
}

// WithNetBootFirst puts the lab NIC (WithLabNIC) first in the firmware's boot order,
// before the drives, which keep their order after it.
func WithNetBootFirst() Option { return func(c *config) { c.netFirst = true } }
