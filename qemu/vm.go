package qemu

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kiln-os/kiln/internal/atomicfile"
)

const (
	// connectTimeout bounds QEMU's start-up until it has connected QMP.
	connectTimeout = 20 * time.Second
	// drainTimeout bounds reading the events left in the socket after QEMU exited.
	drainTimeout = 2 * time.Second
	// killTimeout bounds Kill's wait for the process to be reaped.
	killTimeout = 10 * time.Second
	// tailLines is how much console an error message quotes.
	tailLines = 30
)

// VM is one running QEMU. Its methods are safe for concurrent use.
type VM struct {
	name     string
	accel    string
	logf     func(string, ...any)
	logPath  string
	varsPath string
	runDir   string // sockets; removed when QEMU exits
	logKey   string // this VM's entry in runningLogs; empty until claimed

	cmd    *exec.Cmd
	files  logFiles
	serial *serialLog
	events *eventLog // nil without WithEvents
	stderr *tailBuffer
	qmp    *qmpClient
	tpm    *swtpm // nil without WithTPM

	qmpListener    *net.UnixListener
	eventsListener *net.UnixListener // nil without WithEvents
	eventsDone     chan struct{}     // closed when the events reader returned

	connMu     sync.Mutex // guards the connections reap closes
	eventsConn net.Conn
	qmpConn    net.Conn

	procExited chan struct{} // closed when the process was reaped
	exited     chan struct{} // closed when, in addition, all output was read and files closed
	exitErr    error         // valid once procExited is closed
}

// Start starts QEMU and returns once QMP answers. The VM lives as long as ctx: when ctx
// ends, QEMU is killed (use a context for the whole test, not one for start-up only).
func Start(ctx context.Context, opts ...Option) (*VM, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	accel := cfg.accel
	if accel == "" {
		var err error
		if accel, err = Accel(); err != nil {
			return nil, err
		}
	}
	vm, err := prepare(&cfg, accel)
	if err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	if err := vm.launch(ctx, &cfg); err != nil {
		return nil, err
	}
	return vm, nil
}

// prepare makes the folders, log files, sockets and vars file of a VM.
func prepare(cfg *config, accel string) (*VM, error) {
	cfg.name = vmName(cfg.name)
	logDir := resolveLogDir(cfg.logDir)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	vm := &VM{
		name:       cfg.name,
		accel:      accel,
		logf:       cfg.logf,
		logPath:    filepath.Join(logDir, cfg.name+".log"),
		stderr:     newTailBuffer(16 << 10),
		eventsDone: make(chan struct{}),
		procExited: make(chan struct{}),
		exited:     make(chan struct{}),
	}
	if err := vm.claimLogs(); err != nil {
		return nil, err
	}
	if err := vm.prepareFiles(cfg, logDir); err != nil {
		vm.release()
		return nil, err
	}
	return vm, nil
}

// runningLogs holds the serial log path (absolute) of every VM this process runs, so that
// two VMs running at once never share a name in one log folder: the second would truncate
// the first one's logs and vars file. Several VMs at once need nothing else: sockets live
// in a folder of their own per VM, and ports are the caller's.
var runningLogs sync.Map // path → *VM

func (vm *VM) claimLogs() error {
	abs, err := filepath.Abs(vm.logPath)
	if err != nil {
		return err
	}
	if _, taken := runningLogs.LoadOrStore(abs, vm); taken {
		return fmt.Errorf("VM %s: another VM of this process runs with this name and log folder (%s): give each its own WithName", vm.name, abs)
	}
	vm.logKey = abs
	return nil
}

func (vm *VM) prepareFiles(cfg *config, logDir string) error {
	var err error
	if vm.runDir, err = os.MkdirTemp("", "kiln-qemu-"); err != nil {
		return err
	}
	if vm.files, err = createLogFiles(logDir, vm.name, cfg.events); err != nil {
		return err
	}
	vm.serial = newSerialLog(vm.files.serial, cfg.serialTee)
	if vm.qmpListener, err = listenUnix(filepath.Join(vm.runDir, "qmp.sock")); err != nil {
		return err
	}
	if cfg.tpm != nil {
		if vm.tpm, err = prepareTPM(cfg.tpm, vm.runDir, logDir, vm.name); err != nil {
			return err
		}
	}
	if cfg.events {
		vm.events = newEventLog()
		if vm.eventsListener, err = listenUnix(filepath.Join(vm.runDir, "events.sock")); err != nil {
			return err
		}
	}
	return vm.prepareVars(cfg.uefi, logDir)
}

func (vm *VM) prepareVars(fw *uefiFirmware, logDir string) error {
	switch {
	case fw == nil:
		return nil
	case fw.varsFile != "":
		vm.varsPath = fw.varsFile
		return nil
	default:
		vm.varsPath = filepath.Join(logDir, vm.name+".vars.fd")
		if err := atomicfile.Copy(vm.varsPath, fw.varsTemplate, 0o644); err != nil {
			return fmt.Errorf("UEFI vars template: %w", err)
		}
		return nil
	}
}

func listenUnix(path string) (*net.UnixListener, error) {
	return net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
}

func (vm *VM) runtimePaths() runtimePaths {
	p := runtimePaths{qmpSocket: vm.qmpListener.Addr().String(), varsFile: vm.varsPath}
	if vm.eventsListener != nil {
		p.eventsSocket = vm.eventsListener.Addr().String()
	}
	if vm.tpm != nil {
		p.tpmSocket = vm.tpm.socket
	}
	return p
}

func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func (vm *VM) hasExited() bool {
	select {
	case <-vm.procExited:
		return true
	default:
		return false
	}
}

// stderrNote is QEMU's stderr for an error message (nothing when it said nothing), and
// with WithTPM the tail of swtpm's log, which often says why the TPM failed.
func (vm *VM) stderrNote() string {
	var note string
	if s := strings.TrimSpace(vm.stderr.String()); s != "" {
		note = "\nqemu stderr:\n" + s
	}
	if vm.tpm != nil {
		note += vm.tpm.note()
	}
	return note
}

// Name is the VM's sanitized name, as used for its log files.
func (vm *VM) Name() string { return vm.name }

// AccelName is the accelerator this VM runs with ("kvm" or "tcg").
func (vm *VM) AccelName() string { return vm.accel }

// LogPath is the serial log file.
func (vm *VM) LogPath() string { return vm.logPath }

// VarsPath is the UEFI vars file of this VM, empty without WithUEFI.
func (vm *VM) VarsPath() string { return vm.varsPath }

// TPMLogPath is swtpm's log file (<logdir>/<name>.swtpm.log), empty without WithTPM.
func (vm *VM) TPMLogPath() string {
	if vm.tpm == nil {
		return ""
	}
	return vm.tpm.logPath
}

// TPMStateDir is the absolute path of the TPM state folder, empty without WithTPM.
func (vm *VM) TPMStateDir() string {
	if vm.tpm == nil {
		return ""
	}
	return vm.tpm.stateDir
}

// SerialLog returns the serial console so far.
func (vm *VM) SerialLog() string { return vm.serial.String() }

// Pid is QEMU's process id.
func (vm *VM) Pid() int { return vm.cmd.Process.Pid }

// QMP runs a QMP command (args nil for none) and returns its "return" value.
func (vm *VM) QMP(ctx context.Context, command string, args any) (json.RawMessage, error) {
	if vm.hasExited() {
		return nil, fmt.Errorf("qemu %s: qmp %s: VM has exited", vm.name, command)
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	ret, err := vm.qmp.Execute(ctx, command, args)
	if err != nil {
		return nil, fmt.Errorf("qemu %s: %w", vm.name, err)
	}
	return ret, nil
}
