package qemu

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
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

	cmd    *exec.Cmd
	files  logFiles
	serial *serialLog
	events *eventLog // nil without WithEvents
	stderr *tailBuffer
	qmp    *qmpClient

	qmpListener    *net.UnixListener
	eventsListener *net.UnixListener // nil without WithEvents
	eventsDone     chan struct{}     // closed when the events reader returned

	connMu     sync.Mutex // guards the connections reap closes
	eventsConn net.Conn
	qmpConn    net.Conn

	procExited chan struct{} // closed when the process was reaped
	exited     chan struct{} // closed when, in addition, all output was read and files closed
	exitErr    error         // valid after exited
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
	if err := vm.prepareFiles(cfg, logDir); err != nil {
		vm.release()
		return nil, err
	}
	return vm, nil
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
		return copyFile(vm.varsPath, fw.varsTemplate)
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
	return p
}

// launch starts the process and connects QMP; on error nothing is left running.
func (vm *VM) launch(ctx context.Context, cfg *config) error {
	argv := cfg.args(vm.accel, vm.runtimePaths())
	line := commandLine(append([]string{cfg.binary}, argv...))
	fmt.Fprintf(vm.files.qemu, "%s\n\n", line)
	fmt.Fprintf(vm.files.serial, "# %s\n", line)
	vm.cmd = exec.CommandContext(ctx, cfg.binary, argv...)
	vm.cmd.Stdout = vm.serial
	vm.cmd.Stderr = io.MultiWriter(vm.files.qemu, vm.stderr)
	// If the test binary dies without cleaning up, the kernel kills QEMU.
	vm.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	vm.cmd.WaitDelay = 5 * time.Second
	if err := vm.cmd.Start(); err != nil {
		vm.release()
		return fmt.Errorf("qemu %s: %w", vm.name, err)
	}
	vm.logf("qemu %s: pid %d, accel %s, serial log %s", vm.name, vm.cmd.Process.Pid, vm.accel, vm.logPath)
	go vm.reap()
	if vm.eventsListener != nil {
		go vm.readEvents()
	} else {
		close(vm.eventsDone)
	}
	if err := vm.connectQMP(ctx); err != nil {
		vm.Kill()
		return fmt.Errorf("qemu %s: %w%s", vm.name, err, vm.stderrNote())
	}
	return nil
}

func (vm *VM) connectQMP(ctx context.Context) error {
	vm.qmpListener.SetDeadline(time.Now().Add(connectTimeout))
	conn, err := vm.qmpListener.Accept()
	if err != nil {
		if vm.hasExited() {
			return fmt.Errorf("exited during start-up: %w", vm.exitErr)
		}
		return fmt.Errorf("wait for QMP connection: %w", err)
	}
	vm.connMu.Lock()
	vm.qmpConn = conn
	vm.connMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	vm.qmp, err = newQMPClient(ctx, conn)
	return err
}

// readEvents reads the kiln.events socket that QEMU connects at start-up.
func (vm *VM) readEvents() {
	defer close(vm.eventsDone)
	conn, err := vm.eventsListener.Accept()
	if err != nil {
		return // QEMU exited before connecting; reap closed the listener.
	}
	defer conn.Close()
	vm.connMu.Lock()
	vm.eventsConn = conn
	vm.connMu.Unlock()
	vm.events.readFrom(conn, vm.files.eventsWriter(), vm.logf)
}

// reap waits for QEMU to exit, lets the readers finish, and releases everything.
func (vm *VM) reap() {
	err := vm.cmd.Wait() // returns after stdout and stderr reached EOF
	vm.exitErr = err
	close(vm.procExited)
	vm.qmpListener.Close()
	if vm.eventsListener != nil {
		vm.eventsListener.Close()
	}
	vm.drainEvents()
	vm.connMu.Lock()
	if vm.qmpConn != nil {
		vm.qmpConn.Close()
	}
	vm.connMu.Unlock()
	fmt.Fprintf(vm.files.qemu, "\nexit: %s\n", exitStatus(err))
	vm.release()
	vm.logf("qemu %s: exited: %s", vm.name, exitStatus(err))
	close(vm.exited)
}

// drainEvents waits for the events reader to see EOF, forcing it after drainTimeout.
func (vm *VM) drainEvents() {
	select {
	case <-vm.eventsDone:
		return
	case <-time.After(drainTimeout):
	}
	vm.connMu.Lock()
	if vm.eventsConn != nil {
		vm.eventsConn.Close()
	}
	vm.connMu.Unlock()
	<-vm.eventsDone
}

// release closes the log files and listeners and removes the socket folder.
func (vm *VM) release() {
	vm.files.close()
	for _, l := range []*net.UnixListener{vm.qmpListener, vm.eventsListener} {
		if l != nil {
			l.Close()
		}
	}
	if vm.runDir != "" {
		os.RemoveAll(vm.runDir)
	}
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

// stderrNote is QEMU's stderr for an error message, or nothing when it said nothing.
func (vm *VM) stderrNote() string {
	s := strings.TrimSpace(vm.stderr.String())
	if s == "" {
		return ""
	}
	return "\nqemu stderr:\n" + s
}

// Name is the VM's sanitized name, as used for its log files.
func (vm *VM) Name() string { return vm.name }

// AccelName is the accelerator this VM runs with ("kvm" or "tcg").
func (vm *VM) AccelName() string { return vm.accel }

// LogPath is the serial log file.
func (vm *VM) LogPath() string { return vm.logPath }

// VarsPath is the UEFI vars file of this VM, empty without WithUEFI.
func (vm *VM) VarsPath() string { return vm.varsPath }

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
