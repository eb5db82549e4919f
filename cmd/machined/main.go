// Command machined is the one binary inside a Kiln image. What it does depends on how it
// runs:
//
//	PID 1 as /init (initramfs)   stage 1: mount, switch root, exec /sbin/init
//	PID 1 as /sbin/init          machined: boot phases, services, shutdown
//	machined watchdogd           the hardware watchdog service
//	machined apid ...            the API gateway (api/apid), run by machined as the API user
//	machined trustd ...          the node certificate service (api/trustd)
//	machined version             print the version
//
// PID 1 has one exit path: every mode returns an error to handle, which execs the next
// init, powers off, reboots or halts with the message on the console. Nothing deeper calls
// os.Exit, and a panic is caught and reported the same way.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/api/apid"
	"github.com/kiln-os/kiln/api/trustd"
	"github.com/kiln-os/kiln/initd/cgroup"
	"github.com/kiln-os/kiln/initd/eventsink"
	"github.com/kiln-os/kiln/initd/logbuf"
	"github.com/kiln-os/kiln/initd/machined"
	"github.com/kiln-os/kiln/initd/stage1"
	"github.com/kiln-os/kiln/initd/supervisor"
	"github.com/kiln-os/kiln/initd/watchdog"
	"github.com/kiln-os/kiln/internal/version"
)

func main() {
	if os.Getpid() != 1 {
		os.Exit(tool(os.Args[1:]))
	}
	defer recovery()
	if os.Args[0] == "/init" {
		handle(runStage1())
	}
	handle(runMachined())
}

// tool runs the non-PID-1 modes.
func tool(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: machined watchdogd | apid ... | trustd ... | version (as PID 1 it boots the machine)")
		return 2
	}
	switch args[0] {
	case "version":
		fmt.Println(version.Name, version.Version)
		return 0
	case "apid", "trustd":
		ctx, stop := signal.NotifyContext(context.Background(), unix.SIGTERM, unix.SIGINT)
		defer stop()
		run := apid.Main
		if args[0] == "trustd" {
			run = trustd.Main
		}
		if err := run(ctx, args[1:], os.Stderr); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", args[0], err)
			return 1
		}
		return 0
	case "watchdogd":
		ctx, stop := signal.NotifyContext(context.Background(), unix.SIGTERM, unix.SIGINT)
		defer stop()
		err := watchdog.Run(ctx, watchdog.DefaultDevice, watchdog.ArmedFile, watchdog.DefaultTimeout, func(f string, a ...any) {
			fmt.Fprintf(os.Stderr, "watchdogd: "+f+"\n", a...)
		})
		if err != nil {
			fmt.Fprintf(os.Stderr, "watchdogd: %v\n", err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(os.Stderr, "machined: unknown mode %q\n", args[0])
	return 2
}

func runStage1() error {
	logf := func(f string, a ...any) { fmt.Fprintf(os.Stdout, "kiln stage1: "+f+"\n", a...) }
	logf("starting %s %s", version.Name, version.Version)
	return stage1.Run(logf)
}

func runMachined() error {
	// Service output goes to the console too, prefixed by the service's name; machined's
	// own log is kept for the API as the source "machined".
	logs := logbuf.NewSet(func(source string, l logbuf.Line) {
		if source != "machined" {
			fmt.Fprintf(os.Stdout, "%s: %s\n", source, l.Text)
		}
	})
	log := logrus.New()
	log.SetOutput(io.MultiWriter(os.Stdout, logs.Get("machined")))
	log.SetFormatter(&logrus.TextFormatter{DisableTimestamp: true, DisableColors: true})
	// Ctrl-Alt-Del sends SIGINT to PID 1 instead of rebooting at once.
	unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF)
	ctx := context.Background()
	reaper := supervisor.NewReaper(log)
	go reaper.Run(ctx)
	m := &machined.Machined{Log: log, Sink: newSink(log), Reaper: reaper, Cgroups: cgroup.New(cgroup.DefaultRoot), Console: os.Stdout, Logs: logs}
	return m.Run(ctx)
}

func newSink(log *logrus.Logger) *eventsink.Sink {
	dev := eventsink.FindPort("/sys/class/virtio-ports", "/dev", "kiln.events")
	if dev == "" {
		return eventsink.New(os.Stdout, nil)
	}
	port, err := os.OpenFile(dev, os.O_WRONLY, 0)
	if err != nil {
		log.WithError(err).Warn("event port")
		return eventsink.New(os.Stdout, nil)
	}
	return eventsink.New(os.Stdout, port)
}

// handle is PID 1's one exit path.
func handle(err error) {
	var switchRoot *stage1.SwitchRootError
	var shutdown *machined.ShutdownError
	switch {
	case errors.As(err, &switchRoot):
		env := append(os.Environ(), fmt.Sprintf("%s=%.3f", machined.Stage1UptimeEnv, machined.Uptime().Seconds()))
		env = append(env, switchRoot.Env...)
		err = unix.Exec(switchRoot.Init, []string{switchRoot.Init}, env)
		halt(fmt.Errorf("exec %s: %w", switchRoot.Init, err))
	case errors.As(err, &shutdown):
		cmd := unix.LINUX_REBOOT_CMD_POWER_OFF
		if shutdown.Reboot {
			cmd = unix.LINUX_REBOOT_CMD_RESTART
		}
		fmt.Fprintf(os.Stdout, "kiln: %v\n", shutdown)
		unix.Sync()
		err = unix.Reboot(cmd)
		halt(fmt.Errorf("reboot(%d): %w", cmd, err))
	default:
		halt(err)
	}
}

// halt prints why the boot cannot go on, keeps it on the console for
// machined.FailureRebootDelay and reboots, so that systemd-boot's boot counting can fall
// back to the previous UKI. PID 1 never exits (the kernel would panic): if even the
// reboot fails, it stays, reaping orphans.
func halt(err error) {
	fmt.Fprintf(os.Stdout, "\nkiln: FATAL: %v\nkiln: rebooting in %s\n", err, machined.FailureRebootDelay)
	time.Sleep(machined.FailureRebootDelay)
	unix.Sync()
	rerr := unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	fmt.Fprintf(os.Stdout, "kiln: reboot: %v; halted\n", rerr)
	for {
		var status unix.WaitStatus
		if _, werr := unix.Wait4(-1, &status, 0, nil); werr != nil {
			time.Sleep(time.Hour)
		}
	}
}

func recovery() {
	if r := recover(); r != nil {
		halt(fmt.Errorf("panic: %v\n%s", r, debug.Stack()))
	}
}
