package lab

import (
	"context"
	"os/exec"
	"syscall"
)

// Command returns a command that runs the program name inside the lab's namespace, as
// `ip netns exec <lab> name args…`. ip execs the program, so the process the Cmd starts,
// waits for and kills is the program itself (same pid). It gets SIGKILL when the thread
// that started it ends (PDEATHSIG, kept across ip's exec because neither is set-user-ID):
// a server in the lab does not outlive a test binary that died without cleaning up.
// ip netns exec also gives it a mount namespace of its own with the lab's /sys, so
// /sys/class/net lists the lab's interfaces; the rest of the file system is the host's.
func (l *Lab) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.name, name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}
