package lab

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// These tests create real namespaces, bridges and taps: they need root (ForTest skips
// without it, and fails under CI). They boot no VM.

func TestLabWithTwoTaps(t *testing.T) {
	l := ForTest(t)
	ctx := t.Context()
	a, err := l.AddTap(ctx, "vm-a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.AddTap(ctx, "vm-b")
	if err != nil {
		t.Fatal(err)
	}
	if a.Netns != l.Name() || a.Name != "vm-a" || a.MAC != macFor("vm-a") || b.MAC == a.MAC {
		t.Errorf("taps %+v, %+v", a, b)
	}
	if _, err := l.AddTap(ctx, "vm-a"); err == nil {
		t.Error("a second tap vm-a was made")
	}
	if !slices.Contains(netnsList(t), l.Name()) {
		t.Fatalf("ip netns list lacks %s", l.Name())
	}
	checkLinks(t, l, "vm-a", "vm-b")

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	assertDeleted(t, l.Name())
	if _, err := l.AddTap(ctx, "vm-c"); err == nil {
		t.Error("AddTap after Close succeeded")
	}
}

// checkLinks reads the lab's links with netlink from inside the namespace: lo, the
// bridge with the host address and a fixed MAC, and each tap on the bridge; nothing else.
func checkLinks(t *testing.T, l *Lab, taps ...string) {
	t.Helper()
	err := l.inNetns(func() error {
		links, err := netlink.LinkList()
		if err != nil {
			return err
		}
		var names []string
		for _, link := range links {
			names = append(names, link.Attrs().Name)
		}
		if want := append([]string{"lo", bridgeName}, taps...); !sameSet(names, want) {
			t.Errorf("links in the lab: %v, want %v", names, want)
		}
		br, err := netlink.LinkByName(bridgeName)
		if err != nil {
			return err
		}
		checkBridge(t, br)
		for _, name := range taps {
			checkTap(t, name, br.Attrs().Index)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func checkBridge(t *testing.T, br netlink.Link) {
	t.Helper()
	if br.Type() != "bridge" || br.Attrs().Flags&net.FlagUp == 0 || br.Attrs().HardwareAddr.String() != bridgeMAC {
		t.Errorf("bridge: type %s, flags %v, MAC %s", br.Type(), br.Attrs().Flags, br.Attrs().HardwareAddr)
	}
	addrs, err := netlink.AddrList(br, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 1 || addrs[0].IPNet.String() != HostAddr().String()+"/24" {
		t.Errorf("bridge addresses %v, want %s/24", addrs, HostAddr())
	}
}

func checkTap(t *testing.T, name string, bridgeIndex int) {
	t.Helper()
	link, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	tun, ok := link.(*netlink.Tuntap)
	if !ok || tun.Mode != netlink.TUNTAP_MODE_TAP {
		t.Errorf("%s: %T %+v, want a tap", name, link, link)
	}
	if link.Attrs().MasterIndex != bridgeIndex || link.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("%s: master %d (bridge %d), flags %v: want on the bridge and up", name, link.Attrs().MasterIndex, bridgeIndex, link.Attrs().Flags)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestNothingRoutesOut asks ip(8) for every route in the lab, both families, all tables:
// no default route, and the main IPv4 table holds the lab subnet only. Forwarding is off.
func TestNothingRoutesOut(t *testing.T) {
	l := ForTest(t)
	if _, err := l.AddTap(t.Context(), "vm-a"); err != nil {
		t.Fatal(err)
	}
	if err := l.AddHostAddr(t.Context(), mustAddr(t, 2)); err != nil {
		t.Fatal(err)
	}
	for _, family := range []string{"-4", "-6"} {
		for _, r := range labRoutes(t, l, family) {
			if r.Dst == "default" || r.Gateway != "" {
				t.Errorf("route out of the lab: %+v", r)
			}
			if family == "-4" && r.Table == "main" && (r.Dst != Subnet || r.Dev != bridgeName) {
				t.Errorf("main table route %+v: want %s on %s only", r, Subnet, bridgeName)
			}
		}
	}
	main := 0
	for _, r := range labRoutes(t, l, "-4") {
		if r.Table == "main" {
			main++
		}
	}
	if main != 1 {
		t.Errorf("%d routes in the main table, want the lab subnet's alone", main)
	}
	// /proc/sys/net is the namespace of the thread that opens it: the bridge's own file
	// exists only there, which shows that New's write went to the lab, not the host.
	bridgeForwarding := "/proc/sys/net/ipv4/conf/" + bridgeName + "/forwarding"
	err := l.inNetns(func() error {
		for _, path := range []string{"/proc/sys/net/ipv4/ip_forward", bridgeForwarding} {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if strings.TrimSpace(string(b)) != "0" {
				t.Errorf("%s = %q in the lab", path, b)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bridgeForwarding); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s outside the lab: %v, want no such file", bridgeForwarding, err)
	}
}

type route struct {
	Dst, Dev, Gateway, Table string
}

// labRoutes runs `ip -j -n <lab> <family> route show table all`. ip leaves "table" out
// for the main table.
func labRoutes(t *testing.T, l *Lab, family string) []route {
	t.Helper()
	out, err := exec.Command("ip", "-j", "-n", l.Name(), family, "route", "show", "table", "all").Output()
	if err != nil {
		t.Fatalf("ip route: %v", err)
	}
	var routes []route
	if err := json.Unmarshal(out, &routes); err != nil {
		t.Fatalf("ip -j route: %v\n%s", err, out)
	}
	for i := range routes {
		if routes[i].Table == "" {
			routes[i].Table = "main"
		}
	}
	return routes
}

func mustAddr(t *testing.T, n int) netip.Addr {
	t.Helper()
	a, err := Addr(n)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAddHostAddr(t *testing.T) {
	l := ForTest(t)
	second := mustAddr(t, 2)
	if err := l.AddHostAddr(t.Context(), second); err != nil {
		t.Fatal(err)
	}
	ln, err := l.Listen("tcp", netip.AddrPortFrom(second, 0).String())
	if err != nil {
		t.Fatalf("listen on the second host address: %v", err)
	}
	ln.Close()
	for _, bad := range []string{"10.213.0.255", "10.213.0.0", "10.214.0.1", "172.16.0.1"} {
		if err := l.AddHostAddr(t.Context(), netip.MustParseAddr(bad)); err == nil {
			t.Errorf("AddHostAddr(%s) passed", bad)
		}
	}
}

// TestDialReachesListenerInLab: a socket made by Dial and one made by Listen both belong
// to the lab's namespace (SIOCGSKNS), they talk to each other, and afterwards every thread
// of the test process is back in its own namespace.
func TestDialReachesListenerInLab(t *testing.T) {
	home := threadNetns(t, "thread-self")
	l := ForTest(t)
	ln, err := l.Listen("tcp", netip.AddrPortFrom(HostAddr(), 0).String())
	if err != nil {
		t.Fatal(err)
	}
	go echoOnce(ln)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := l.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte("kiln\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(conn).ReadString('\n'); err != nil || line != "kiln\n" {
		t.Fatalf("echo = %q, %v", line, err)
	}
	lab := fileID(t, l.NetnsPath())
	for what, c := range map[string]syscall.Conn{"dialled": conn.(*net.TCPConn), "listening": ln.(*net.TCPListener)} {
		if got := socketNetns(t, c); got != lab {
			t.Errorf("%s socket in namespace %v, want the lab's %v", what, got, lab)
		}
	}
	for i := 0; i < 20; i++ { // many round trips, so that many threads took part
		c, err := l.GRPCDialer()(ctx, "127.0.0.1:1")
		if err == nil {
			c.Close()
		}
	}
	assertThreadsIn(t, home)
}

func echoOnce(ln net.Listener) {
	c, err := ln.Accept()
	if err != nil {
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.Copy(c, c)
}

type nsID struct{ dev, ino uint64 }

func fileID(t *testing.T, path string) nsID {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return nsID{st.Dev, st.Ino}
}

// socketNetns is the namespace a socket belongs to (ioctl SIOCGSKNS, Linux 4.9).
func socketNetns(t *testing.T, c syscall.Conn) nsID {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var id nsID
	var ioctlErr error
	raw.Control(func(fd uintptr) {
		nsfd, err := unix.IoctlRetInt(int(fd), unix.SIOCGSKNS)
		if err != nil {
			ioctlErr = err
			return
		}
		defer unix.Close(nsfd)
		var st unix.Stat_t
		ioctlErr = unix.Fstat(nsfd, &st)
		id = nsID{st.Dev, st.Ino}
	})
	if ioctlErr != nil {
		t.Fatalf("SIOCGSKNS: %v", ioctlErr)
	}
	return id
}

func threadNetns(t *testing.T, task string) string {
	t.Helper()
	link, err := os.Readlink(filepath.Join("/proc", task, "ns/net"))
	if err != nil {
		t.Fatal(err)
	}
	return link
}

// assertThreadsIn checks that no thread of this process is left in another namespace.
func assertThreadsIn(t *testing.T, home string) {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		link, err := os.Readlink(filepath.Join("/proc/self/task", task.Name(), "ns/net"))
		if err != nil {
			continue // the thread ended meanwhile
		}
		if link != home {
			t.Errorf("thread %s is in %s, not the test's %s", task.Name(), link, home)
		}
	}
}

// TestCommandRunsInLab: the program sees the lab's links, and ip netns exec execs it, so
// the Cmd's process is the program itself, inside the lab, and Kill reaches it.
func TestCommandRunsInLab(t *testing.T) {
	l := ForTest(t)
	out, err := l.Command(t.Context(), "ip", "-o", "link", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), bridgeName) || strings.Count(string(out), "\n") != 2 {
		t.Errorf("links seen inside the lab:\n%s", out)
	}

	cmd := l.Command(t.Context(), "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	waitComm(t, pid, "sleep")
	if got, want := fileID(t, fmt.Sprintf("/proc/%d/ns/net", pid)), fileID(t, l.NetnsPath()); got != want {
		t.Errorf("pid %d in namespace %v, want the lab's %v", pid, got, want)
	}
	cmd.Process.Kill()
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Wait after Kill = %v, want signal: killed", err)
	}
}

// waitComm waits until pid runs comm: ip execs the program a moment after it started.
func waitComm(t *testing.T, pid int, comm string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err == nil && strings.TrimSpace(string(b)) == comm {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d runs %q (%v), not %s: ip netns exec did not exec it", pid, b, err, comm)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// childEnv makes TestLabChild do its part; it names the way the child test ends.
const childEnv = "KILN_LAB_TEST_CHILD"

// TestLabChild is run by the tests below in a child test binary: it makes a lab with a
// tap and a program running inside, prints their names, and ends as childEnv says.
func TestLabChild(t *testing.T) {
	mode := os.Getenv(childEnv)
	if mode == "" {
		t.Skip("helper of TestLabTornDown*: runs only in a child process")
	}
	l := ForTest(t)
	if _, err := l.AddTap(t.Context(), "vm-a"); err != nil {
		t.Fatal(err)
	}
	sleep := l.Command(context.Background(), "sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("LAB %s %d\n", l.Name(), sleep.Process.Pid)
	switch mode {
	case "fail":
		t.Fail()
	case "panic":
		panic("kiln lab test: a panicking test")
	case "hang":
		time.Sleep(time.Minute) // killed by the parent
	}
	sleep.Process.Kill()
	sleep.Wait()
}

// child is TestLabChild running in a child test binary.
type child struct {
	cmd    *exec.Cmd
	out    bytes.Buffer  // its output; read it after wait
	copied chan struct{} // closed when its stdout reached EOF
	lab    string        // the name of its lab
	pid    int           // the program it runs in the lab
}

// startChild runs TestLabChild in mode and returns once the child printed its lab.
func startChild(t *testing.T, mode string) *child {
	t.Helper()
	RequireRoot(t)
	c := &child{copied: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0], "-test.run=^TestLabChild$", "-test.v", "-test.count=1")
	c.cmd.Env = append(os.Environ(), childEnv+"="+mode)
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.cmd.Stderr = c.cmd.Stdout // the pipe's write end: a panic goes to stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan struct{})
	go c.read(stdout, found)
	select {
	case <-found:
		return c
	case <-c.copied:
	case <-time.After(30 * time.Second):
		c.cmd.Process.Kill()
	}
	c.wait()
	t.Fatalf("child (%s) printed no lab:\n%s", mode, c.out.String())
	return nil
}

// read copies the child's output into out, noting the lab's line on the way.
func (c *child) read(r io.Reader, found chan<- struct{}) {
	defer close(c.copied)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		c.out.WriteString(sc.Text() + "\n")
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "LAB" && c.lab == "" {
			c.lab = f[1]
			c.pid, _ = strconv.Atoi(f[2])
			close(found)
		}
	}
}

// wait waits for the child's output to end and then for the child.
func (c *child) wait() error {
	<-c.copied
	return c.cmd.Wait()
}

// TestLabTornDownWhenTestFails: a test that fails, or panics, still deletes its lab
// (ForTest's cleanup), and the program it ran inside is gone with it.
func TestLabTornDownWhenTestFails(t *testing.T) {
	for _, mode := range []string{"fail", "panic"} {
		t.Run(mode, func(t *testing.T) {
			c := startChild(t, mode)
			err := c.wait()
			out, name, pid := &c.out, c.lab, c.pid
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("child ended with %v, want a failing exit:\n%s", err, out)
			}
			want := map[string]string{"fail": "--- FAIL: TestLabChild", "panic": "panic: kiln lab test"}[mode]
			if !strings.Contains(out.String(), want) {
				t.Errorf("child output lacks %q:\n%s", want, out)
			}
			assertDeleted(t, name)
			assertProcessGone(t, pid)
		})
	}
}

// TestLabTornDownAfterKill: a test binary killed outright runs no cleanup. The program it
// ran in the lab dies with it (PDEATHSIG survives ip netns exec), and the next New
// deletes the namespace left behind.
func TestLabTornDownAfterKill(t *testing.T) {
	c := startChild(t, "hang")
	out, name, pid := &c.out, c.lab, c.pid
	waitComm(t, pid, "sleep")
	c.cmd.Process.Kill()
	c.wait()
	assertProcessGone(t, pid)
	if !slices.Contains(netnsList(t), name) {
		t.Fatalf("the killed child's lab %s is not there; child output:\n%s", name, out)
	}
	ForTest(t)
	assertDeleted(t, name)
}

// assertProcessGone waits (bounded) until pid no longer runs: gone, or a zombie that its
// new parent has yet to reap.
func assertProcessGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || procState(stat) == "Z" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still runs: %s", pid, stat)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// procState is the state field of /proc/PID/stat, after the parenthesised comm.
func procState(stat []byte) string {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+3 > len(stat) {
		return ""
	}
	return string(stat[i+2 : i+3])
}

// netnsList is the names `ip netns list` prints.
func netnsList(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatalf("ip netns list: %v", err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names
}

func assertDeleted(t *testing.T, name string) {
	t.Helper()
	if slices.Contains(netnsList(t), name) {
		t.Errorf("ip netns list still has %s", name)
	}
	if _, err := os.Stat(filepath.Join(netnsDir, name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s/%s: %v, want it gone", netnsDir, name, err)
	}
}
