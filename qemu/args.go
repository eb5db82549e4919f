package qemu

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/kiln-os/kiln/initd/events"
)

// Chardev and device ids on the command line.
const (
	qmpChardev    = "qmp"
	serialChardev = "serial0"
	eventsChardev = "events"
	virtioSerial  = "virtio-serial0"
	tpmChardev    = "chrtpm"
	tpmBackend    = "tpm0"
	userNetdev    = "net0"
	labNetdev     = "lab0"
)

// netnsExec runs a program inside a named network namespace and execs it (iproute2's
// `ip netns exec`: no fork, so the pid stays the program's).
var netnsExec = []string{"ip", "netns", "exec"}

// runtimePaths are the files Start makes for one VM; args only names them.
type runtimePaths struct {
	qmpSocket    string
	eventsSocket string // empty without WithEvents
	varsFile     string // empty without WithUEFI
	tpmSocket    string // swtpm's control socket; empty without WithTPM
}

func (c *config) validate() error {
	var errs []error
	if c.memoryMiB < 16 {
		errs = append(errs, fmt.Errorf("memory %d MiB: want at least 16", c.memoryMiB))
	}
	if c.cpus < 1 {
		errs = append(errs, fmt.Errorf("cpus %d: want at least 1", c.cpus))
	}
	if c.accel != "" && c.accel != "kvm" && c.accel != "tcg" {
		errs = append(errs, fmt.Errorf("accel %q: want kvm or tcg", c.accel))
	}
	if c.tpm != nil && c.tpm.stateDir == "" {
		errs = append(errs, errors.New("WithTPM: empty state folder"))
	}
	if c.kernel != nil && c.kernel.vmlinuz == "" {
		errs = append(errs, errors.New("WithKernel: empty vmlinuz path"))
	}
	errs = append(errs, c.validateLabNIC()...)
	for _, f := range c.userNetForwards() {
		if !validPort(f.HostPort) || !validPort(f.GuestPort) {
			errs = append(errs, fmt.Errorf("forward %d->%d: ports must be 1-65535", f.HostPort, f.GuestPort))
		}
	}
	return errors.Join(errs...)
}

func (c *config) validateLabNIC() []error {
	n := c.labNIC
	if n == nil {
		if c.netFirst {
			return []error{errors.New("WithNetBootFirst needs WithLabNIC")}
		}
		return nil
	}
	var errs []error
	if n.netns == "" || strings.ContainsAny(n.netns, "/\x00") || n.netns == "." || n.netns == ".." {
		errs = append(errs, fmt.Errorf("WithLabNIC: network namespace %q: want the name of one in /run/netns", n.netns))
	}
	if n.tap == "" || len(n.tap) > 15 || strings.ContainsAny(n.tap, "/: \t\n") {
		errs = append(errs, fmt.Errorf("WithLabNIC: tap %q: want an interface name of 1-15 bytes", n.tap))
	}
	if hw, err := net.ParseMAC(n.mac); err != nil || len(hw) != 6 || hw[0]&1 != 0 {
		errs = append(errs, fmt.Errorf("WithLabNIC: MAC %q: want a unicast 48-bit address like 52:54:00:12:34:56", n.mac))
	}
	if c.userNet != nil {
		errs = append(errs, errors.New("WithLabNIC with WithUserNet: a lab VM has the lab NIC only (user networking would route out of the lab)"))
	}
	return errs
}

func validPort(p int) bool { return p > 0 && p < 65536 }

func (c *config) userNetForwards() []Forward {
	if c.userNet == nil {
		return nil
	}
	return c.userNet.forwards
}

// command is the argv Start runs: QEMU and its arguments, or with WithLabNIC, QEMU under
// `ip netns exec`, because the lab's tap exists only inside its namespace. ip execs QEMU
// without forking, so the process Start starts, waits for and kills is QEMU. Only QEMU
// enters the namespace: its sockets to the harness are files, which no network namespace
// hides, and swtpm stays outside.
func (c *config) command(accel string, p runtimePaths) []string {
	argv := append([]string{c.binary}, c.args(accel, p)...)
	if c.nice != 0 {
		argv = append([]string{"nice", "-n", strconv.Itoa(c.nice)}, argv...)
	}
	if c.labNIC != nil {
		argv = append(append(slices.Clone(netnsExec), c.labNIC.netns), argv...)
	}
	return argv
}

// args is the full QEMU argv (without the binary) for accel and the runtime files.
func (c *config) args(accel string, p runtimePaths) []string {
	var a []string
	a = append(a, c.machineArgs(accel)...)
	a = append(a, controlArgs(p.qmpSocket)...)
	a = append(a, c.firmwareArgs(p.varsFile)...)
	a = append(a, tpmArgs(p.tpmSocket)...)
	a = append(a, c.kernelArgs()...)
	a = append(a, eventArgs(p.eventsSocket)...)
	a = append(a, c.driveArgs()...)
	a = append(a, c.netArgs()...)
	if c.noReboot {
		a = append(a, "-no-reboot")
	}
	return append(a, c.extraArgs...)
}

// machineArgs: a q35 machine with nothing implicit (-nodefaults), no display, and a
// hardware RNG so the guest's entropy pool fills without waiting.
func (c *config) machineArgs(accel string) []string {
	machine := "q35"
	if c.uefi != nil {
		// SMM keeps the Secure Boot variables out of the OS's reach.
		machine += ",smm=on"
	}
	return []string{
		"-name", c.name,
		"-machine", machine,
		"-accel", accel,
		"-cpu", cpuModel(accel),
		"-smp", strconv.Itoa(c.cpus),
		"-m", strconv.Itoa(c.memoryMiB),
		"-nodefaults",
		"-no-user-config",
		"-display", "none",
		"-device", "virtio-rng-pci",
	}
}

func cpuModel(accel string) string {
	if accel == "kvm" {
		return "host"
	}
	return "max"
}

// controlArgs: QMP and the serial console. QEMU connects to the harness's QMP socket as a
// client during start-up, so the harness never polls for a socket file. The serial
// console goes to QEMU's stdout, which the harness reads until EOF at exit.
func controlArgs(qmpSocket string) []string {
	return []string{
		"-chardev", "socket,id=" + qmpChardev + ",path=" + escapeOpt(qmpSocket),
		"-mon", "chardev=" + qmpChardev + ",mode=control",
		"-chardev", "stdio,id=" + serialChardev + ",signal=off",
		"-serial", "chardev:" + serialChardev,
	}
}

func (c *config) firmwareArgs(varsFile string) []string {
	if c.uefi == nil {
		return nil
	}
	return []string{
		"-global", "driver=cfi.pflash01,property=secure,value=on",
		// OVMF's SMM build does not support S3 resume.
		"-global", "ICH9-LPC.disable_s3=1",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + escapeOpt(c.uefi.code),
		"-drive", "if=pflash,format=raw,unit=1,file=" + escapeOpt(varsFile),
	}
}

// tpmArgs: a TIS TPM (the interface OVMF and Linux find without ACPI tweaks) backed by
// swtpm through its control socket; QEMU passes the data channel over that socket.
func tpmArgs(socket string) []string {
	if socket == "" {
		return nil
	}
	return []string{
		"-chardev", "socket,id=" + tpmChardev + ",path=" + escapeOpt(socket),
		"-tpmdev", "emulator,id=" + tpmBackend + ",chardev=" + tpmChardev,
		"-device", "tpm-tis,tpmdev=" + tpmBackend,
	}
}

func (c *config) kernelArgs() []string {
	k := c.kernel
	if k == nil {
		return nil
	}
	a := []string{"-kernel", k.vmlinuz}
	if k.initrd != "" {
		a = append(a, "-initrd", k.initrd)
	}
	if k.cmdline != "" {
		a = append(a, "-append", k.cmdline)
	}
	return a
}

// eventArgs: the kiln.events port. Like QMP, QEMU connects to the harness's socket at
// start-up, before the guest runs, so no event can be written before someone reads.
func eventArgs(socket string) []string {
	if socket == "" {
		return nil
	}
	return []string{
		"-chardev", "socket,id=" + eventsChardev + ",path=" + escapeOpt(socket),
		"-device", "virtio-serial-pci,id=" + virtioSerial,
		"-device", "virtserialport,bus=" + virtioSerial + ".0,chardev=" + eventsChardev +
			",name=" + events.PortName,
	}
}

// driveArgs gives each drive a bootindex in option order.
func (c *config) driveArgs() []string {
	var a []string
	for i, d := range c.drives {
		id := fmt.Sprintf("drive%d", i)
		boot := fmt.Sprintf(",bootindex=%d", i+1)
		file := "file=" + escapeOpt(d.path)
		switch d.kind {
		case driveDisk:
			a = append(a,
				"-drive", "if=none,id="+id+",format=raw,"+file,
				"-device", "virtio-blk-pci,drive="+id+boot)
		case driveCDROM:
			a = append(a,
				"-drive", "if=none,id="+id+",format=raw,media=cdrom,readonly=on,"+file,
				"-device", "ide-cd,drive="+id+boot)
		}
	}
	return a
}

func (c *config) netArgs() []string {
	if c.labNIC != nil {
		return c.labNICArgs()
	}
	if c.userNet == nil {
		return nil
	}
	netdev := "user,id=" + userNetdev
	for _, f := range c.userNet.forwards {
		netdev += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:%d", f.HostPort, f.GuestPort)
	}
	return []string{"-netdev", netdev, "-device", "virtio-net-pci,netdev=" + userNetdev}
}

// labNICArgs: the lab's tap, opened by name (the lab made it; no scripts run), on a
// virtio NIC. romfile= (empty) leaves the NIC without an option ROM, so OVMF's own
// virtio-net driver and network stack run it. The NIC's bootindex puts it after the
// drives (1..n) or, with WithNetBootFirst, before them (0).
func (c *config) labNICArgs() []string {
	n := c.labNIC
	boot := len(c.drives) + 1
	if c.netFirst {
		boot = 0
	}
	return []string{
		"-netdev", "tap,id=" + labNetdev + ",ifname=" + escapeOpt(n.tap) + ",script=no,downscript=no",
		"-device", fmt.Sprintf("virtio-net-pci,netdev=%s,mac=%s,bootindex=%d,romfile=", labNetdev, n.mac, boot),
	}
}

// escapeOpt escapes a value inside a QEMU option string, where ',' separates options.
func escapeOpt(v string) string { return strings.ReplaceAll(v, ",", ",,") }

// commandLine renders argv for a log file, quoting what a shell would need quoted.
func commandLine(argv []string) string {
	quoted := make([]string, len(argv))
	for i, s := range argv {
		quoted[i] = shellQuote(s)
	}
	return strings.Join(quoted, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=,.:/+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
