// Command pause is the pod sandbox's process: the first process of every pod, which holds
// the pod's namespaces while its containers come and go. It is the one program of Kiln's
// sandbox image (the CRI containerd's pinned sandbox image), so that no node needs a
// registry to start a pod.
//
// As PID 1 of the pod's PID namespace (when the pod shares one) it reaps the orphans that
// are handed to it, and it exits when it is asked to stop: the kernel delivers to a PID 1
// only the signals it handles.
package main

import (
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, unix.SIGINT, unix.SIGTERM, unix.SIGCHLD)
	for sig := range signals {
		if sig != unix.SIGCHLD {
			os.Exit(0)
		}
		reap()
	}
}

// reap collects every child that has exited; one SIGCHLD may stand for several.
func reap() {
	for {
		var status unix.WaitStatus
		pid, err := unix.Wait4(-1, &status, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
