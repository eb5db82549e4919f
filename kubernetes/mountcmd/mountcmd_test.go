package mountcmd

import (
	"testing"

	"golang.org/x/sys/unix"
)

// The command lines k8s.io/mount-utils writes (MakeMountArgs) become these calls.
func TestParseMount(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want mountCall
	}{
		{[]string{"-t", "tmpfs", "-o", "size=64m", "tmpfs", "/var/lib/kubelet/pods/x/volumes/secret"},
			mountCall{source: "tmpfs", target: "/var/lib/kubelet/pods/x/volumes/secret", fstype: "tmpfs", data: "size=64m"}},
		{[]string{"-t", "tmpfs", "/t"}, mountCall{source: "tmpfs", target: "/t", fstype: "tmpfs"}},
		{[]string{"--no-canonicalize", "-o", "bind", "/src", "/dst"}, mountCall{source: "/src", target: "/dst", flags: unix.MS_BIND}},
		{[]string{"-o", "bind,remount,ro,nosuid", "/src", "/dst"}, mountCall{source: "/src", target: "/dst", flags: unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY | unix.MS_NOSUID}},
		{[]string{"-o", "ro,rw", "/dev/x", "/m"}, mountCall{source: "/dev/x", target: "/m"}},
		{[]string{"-o", "rshared", "/m"}, mountCall{target: "/m", flags: unix.MS_SHARED | unix.MS_REC}},
	} {
		got, err := parseMount(tc.args)
		if err != nil || got != tc.want {
			t.Errorf("parseMount(%q) = %+v, %v; want %+v", tc.args, got, err, tc.want)
		}
	}
	for _, bad := range [][]string{{}, {"-t"}, {"a", "b", "c"}} {
		if _, err := parseMount(bad); err == nil {
			t.Errorf("parseMount(%q) accepted", bad)
		}
	}
}
