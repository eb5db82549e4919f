// Package mountcmd is the mount and umount programs of the kube multi-call binary.
//
// A Kiln root has no util-linux: the kubelet's volume code (k8s.io/mount-utils) runs
// "mount [flags] [-t TYPE] [-o OPTIONS] [SOURCE] TARGET" and "umount TARGET" for the
// tmpfs of secret and projected volumes, bind mounts and remounts. These two programs do
// that much with the mount(2) and umount2(2) system calls.
package mountcmd

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// mountFlags maps mount(8) options to mount(2) flags; every other option goes to the
// filesystem as data.
var mountFlags = map[string]struct {
	set   uintptr
	clear bool
}{
	"ro": {unix.MS_RDONLY, false}, "rw": {unix.MS_RDONLY, true},
	"nosuid": {unix.MS_NOSUID, false}, "suid": {unix.MS_NOSUID, true},
	"nodev": {unix.MS_NODEV, false}, "dev": {unix.MS_NODEV, true},
	"noexec": {unix.MS_NOEXEC, false}, "exec": {unix.MS_NOEXEC, true},
	"noatime": {unix.MS_NOATIME, false}, "relatime": {unix.MS_RELATIME, false},
	"strictatime": {unix.MS_STRICTATIME, false}, "nodiratime": {unix.MS_NODIRATIME, false},
	"sync": {unix.MS_SYNCHRONOUS, false}, "dirsync": {unix.MS_DIRSYNC, false},
	"bind": {unix.MS_BIND, false}, "rbind": {unix.MS_BIND | unix.MS_REC, false},
	"remount": {unix.MS_REMOUNT, false},
	"private": {unix.MS_PRIVATE, false}, "rprivate": {unix.MS_PRIVATE | unix.MS_REC, false},
	"shared": {unix.MS_SHARED, false}, "rshared": {unix.MS_SHARED | unix.MS_REC, false},
	"slave": {unix.MS_SLAVE, false}, "rslave": {unix.MS_SLAVE | unix.MS_REC, false},
	"defaults": {0, false},
}

// mountCall is one mount(2) call.
type mountCall struct {
	source, target, fstype, data string
	flags                        uintptr
}

// parseMount reads mount(8)'s arguments as mount-utils writes them.
func parseMount(args []string) (mountCall, error) {
	var call mountCall
	var options, positional []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-t" || a == "-o":
			if i+1 == len(args) {
				return call, fmt.Errorf("%s needs a value", a)
			}
			i++
			if a == "-t" {
				call.fstype = args[i]
			} else {
				options = append(options, strings.Split(args[i], ",")...)
			}
		case a == "--bind":
			options = append(options, "bind")
		case a == "--rbind":
			options = append(options, "rbind")
		case strings.HasPrefix(a, "-"):
			// --no-canonicalize and the like change nothing here: paths are used as given.
		default:
			positional = append(positional, a)
		}
	}
	switch len(positional) {
	case 1:
		call.target = positional[0]
	case 2:
		call.source, call.target = positional[0], positional[1]
	default:
		return call, fmt.Errorf("want [SOURCE] TARGET, got %q", positional)
	}
	var data []string
	for _, o := range options {
		f, ok := mountFlags[o]
		switch {
		case !ok:
			data = append(data, o)
		case f.clear:
			call.flags &^= f.set
		default:
			call.flags |= f.set
		}
	}
	call.data = strings.Join(data, ",")
	if call.source == "" {
		call.source = call.fstype
	}
	return call, nil
}

// Mount is mount(8): args[0] is the program name. It returns the exit code.
func Mount(args []string) int {
	call, err := parseMount(args[1:])
	if err == nil {
		err = doMount(call)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "mount: %v\n", err)
		return 32 // mount(8): mount failure
	}
	return 0
}

// doMount mounts; a bind mount with other flags is two calls, as mount(8) makes it: the
// kernel ignores flags other than MS_REC on the first.
func doMount(c mountCall) error {
	const propagation = unix.MS_SHARED | unix.MS_PRIVATE | unix.MS_SLAVE | unix.MS_UNBINDABLE
	if c.flags&propagation != 0 {
		return wrap("mount", c.target, unix.Mount("", c.target, "", c.flags&(propagation|unix.MS_REC), ""))
	}
	if c.flags&unix.MS_BIND != 0 && c.flags&unix.MS_REMOUNT == 0 {
		if err := unix.Mount(c.source, c.target, "", c.flags&(unix.MS_BIND|unix.MS_REC), ""); err != nil {
			return wrap("mount --bind "+c.source, c.target, err)
		}
		rest := c.flags &^ (unix.MS_BIND | unix.MS_REC)
		if rest == 0 {
			return nil
		}
		c.flags = rest | unix.MS_BIND | unix.MS_REMOUNT
	}
	return wrap("mount "+c.source, c.target, unix.Mount(c.source, c.target, c.fstype, c.flags, c.data))
}

// Umount is umount(8) for one target: args[0] is the program name.
func Umount(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "umount: want TARGET")
		return 1
	}
	if err := unix.Unmount(args[1], 0); err != nil {
		fmt.Fprintf(os.Stderr, "umount: %v\n", wrap("umount", args[1], err))
		return 32
	}
	return 0
}

func wrap(op, path string, err error) error {
	if err == nil {
		return nil
	}
	return &os.PathError{Op: op, Path: path, Err: err}
}
