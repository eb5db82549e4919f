// Command bareinit is the bare path of `make bench` (TestBootRatio): an /init that does
// nothing but say it runs and power off. It mounts what it needs to find the kiln.events
// virtio-serial port, writes one event line ("boot bare ready", with the kernel's uptime)
// and powers the machine off. A Kiln boot's extra time over this one is Kiln's own.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	for _, m := range []struct{ src, dst, fs string }{{"devtmpfs", "/dev", "devtmpfs"}, {"sysfs", "/sys", "sysfs"}, {"proc", "/proc", "proc"}} {
		os.MkdirAll(m.dst, 0o755)
		if err := unix.Mount(m.src, m.dst, m.fs, 0, ""); err != nil {
			fail("mount %s: %v", m.dst, err)
		}
	}
	uptime, _ := os.ReadFile("/proc/uptime")
	port := eventsPort()
	if port == "" {
		fail("no kiln.events port")
	}
	f, err := os.OpenFile(port, os.O_WRONLY, 0)
	if err != nil {
		fail("%s: %v", port, err)
	}
	fmt.Fprintf(f, `{"seq":1,"time":%q,"type":"boot","name":"bare","state":"ready","fields":{"uptime":%q}}`+"\n",
		time.Now().UTC().Format(time.RFC3339Nano), strings.Fields(string(uptime))[0])
	f.Sync()
	f.Close()
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
}

// eventsPort finds the kiln.events port's device. The port's name arrives from the host
// over virtio-console's control queue, which may come after /init starts: poll, with a
// bound.
func eventsPort() string {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		dirs, _ := filepath.Glob("/sys/class/virtio-ports/vport*")
		for _, d := range dirs {
			if name, err := os.ReadFile(filepath.Join(d, "name")); err == nil && strings.TrimSpace(string(name)) == "kiln.events" {
				return filepath.Join("/dev", filepath.Base(d))
			}
		}
	}
	return ""
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bareinit: "+format+"\n", args...)
	time.Sleep(time.Second)
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
}
