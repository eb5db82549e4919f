package qemu

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const (
	// swtpmStopTimeout bounds swtpm's exit after SIGTERM, before SIGKILL.
	swtpmStopTimeout = 3 * time.Second
	// swtpmLogLevel logs swtpm's errors, not every TPM command (level 5+ adds libtpms).
	swtpmLogLevel = 1
)

// swtpm is the TPM emulator process of one VM, started before QEMU and stopped after it.
type swtpm struct {
	binary   string
	stateDir string
	logPath  string // <logdir>/<name>.swtpm.log: command line, swtpm's log, exit status
	socket   string // the control socket QEMU connects to

	listener *net.UnixListener // the control socket until swtpm holds it; then nil
	cmd      *exec.Cmd
	log      *os.File
	exited   chan struct{} // closed when swtpm was reaped and its log closed
}

// prepareTPM makes the state folder (kept after the VM) and listens on the control socket.
func prepareTPM(t *softTPM, runDir, logDir, name string) (*swtpm, error) {
	stateDir, err := filepath.Abs(t.stateDir)
	if err != nil {
		return nil, fmt.Errorf("TPM state folder: %w", err)
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("TPM state folder: %w", err)
	}
	s := &swtpm{
		binary:   t.binary,
		stateDir: stateDir,
		logPath:  filepath.Join(logDir, name+".swtpm.log"),
		socket:   filepath.Join(runDir, "swtpm.sock"),
		exited:   make(chan struct{}),
	}
	if s.listener, err = listenUnix(s.socket); err != nil {
		return nil, err
	}
	return s, nil
}

// args is swtpm's argv. The control socket is fd 3, already listening: QEMU may connect
// as soon as swtpm is started, with no socket file to poll for. The log is fd 4, the file
// its stderr also goes to (swtpm 0.7.1 exits at once, silently, with --log fd=2). No --flags startup-*:
// the firmware sends TPM2_Startup, as on real hardware. The state folder comes in
// TPM_PATH (see env), which needs no escaping of commas.
func (s *swtpm) args() []string {
	return []string{
		"socket", "--tpm2",
		"--ctrl", "type=unixio,fd=3",
		"--log", fmt.Sprintf("fd=4,level=%d", swtpmLogLevel),
	}
}

func (s *swtpm) env() []string { return []string{"TPM_PATH=" + s.stateDir} }

// start starts swtpm on the listening socket and gives the socket up: from then on only
// swtpm holds it, so if swtpm dies, QEMU's connect fails instead of hanging.
func (s *swtpm) start(ctx context.Context) error {
	sock, err := s.listener.File()
	if err != nil {
		return fmt.Errorf("swtpm control socket: %w", err)
	}
	defer sock.Close()
	s.listener.SetUnlinkOnClose(false)
	defer s.closeListener()
	if s.log, err = os.Create(s.logPath); err != nil {
		return err
	}
	fmt.Fprintf(s.log, "%s\n\n", commandLine(append(s.env(), append([]string{s.binary}, s.args()...)...)))
	s.cmd = exec.CommandContext(ctx, s.binary, s.args()...)
	s.cmd.Env = append(os.Environ(), s.env()...)
	s.cmd.ExtraFiles = []*os.File{sock, s.log} // fds 3 and 4
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	// Like QEMU: dies with the harness, deaf to the terminal's Ctrl-C.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		s.log.Close()
		return fmt.Errorf("start swtpm: %w (is swtpm installed?)", err)
	}
	go s.reap()
	return nil
}

func (s *swtpm) reap() {
	err := s.cmd.Wait()
	fmt.Fprintf(s.log, "\nexit: %s\n", exitStatus(err))
	s.log.Close()
	close(s.exited)
}

// stop ends swtpm once QEMU is gone. After a QMP quit QEMU has already shut the TPM
// down and swtpm is exiting; after a kill it would wait for the next VM forever. SIGTERM
// lets it save its state, SIGKILL bounds the wait. stop returns once swtpm is reaped, so
// the next VM on the same state folder finds it unlocked.
func (s *swtpm) stop() {
	s.closeListener()
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return
	case <-time.After(swtpmStopTimeout):
	}
	s.cmd.Process.Kill()
	<-s.exited
}

func (s *swtpm) closeListener() {
	if s.listener != nil {
		s.listener.Close()
		s.listener = nil
	}
}

// note names swtpm's log for an error message and quotes its last lines.
func (s *swtpm) note() string {
	text, err := os.ReadFile(s.logPath)
	if err != nil {
		return fmt.Sprintf("\nswtpm log %s: %v", s.logPath, err)
	}
	lines := strings.Split(strings.TrimSpace(string(text)), "\n")
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return fmt.Sprintf("\nswtpm log (%s):\n%s", s.logPath, strings.Join(lines, "\n"))
}
