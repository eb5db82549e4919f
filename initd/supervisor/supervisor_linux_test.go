package supervisor

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/initd/cgroup"
	"github.com/kiln-os/kiln/initd/cgroup/cgrouptest"
)

func newProcess(t *testing.T, spec ProcessSpec) *ProcessService {
	t.Helper()
	svc, err := NewProcess(spec)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// layeredServices builds db and cache (independent), api (needs both) and web (needs
// api). db and cache are only healthy once the other one runs, so they become healthy
// only if they were started concurrently.
func layeredServices(t *testing.T, reaper *Reaper) []*ProcessService {
	var db, cache *ProcessService
	runs := func(other **ProcessService) func(context.Context) error {
		return func(context.Context) error {
			if (*other).Pid() == 0 {
				return errors.New("peer not running yet")
			}
			return nil
		}
	}
	db = newProcess(t, ProcessSpec{Name: "db", Argv: sh("exec sleep 30"), Health: runs(&cache), Reaper: reaper})
	cache = newProcess(t, ProcessSpec{Name: "cache", Argv: sh("exec sleep 30"), Health: runs(&db), Reaper: reaper})
	api := newProcess(t, ProcessSpec{Name: "api", DependsOn: []string{"db", "cache"}, Argv: sh("exec sleep 30"), Reaper: reaper})
	web := newProcess(t, ProcessSpec{Name: "web", DependsOn: []string{"api"}, Argv: sh("exec sleep 30"), Reaper: reaper})
	return []*ProcessService{web, api, cache, db}
}

func asServices(procs []*ProcessService) []Service {
	var out []Service
	for _, p := range procs {
		out = append(out, p)
	}
	return out
}

// before fails the test unless event a comes before event b; both must exist.
func before(t *testing.T, rec *recorder, aName, aState, bName, bState string) {
	t.Helper()
	a, b := rec.index(aName, aState), rec.index(bName, bState)
	if a < 0 || b < 0 || a > b {
		t.Errorf("want %s %s (#%d) before %s %s (#%d)", aName, aState, a, bName, bState, b)
	}
}

func TestServicesStartInDependencyOrder(t *testing.T) {
	reaper, _ := startReaper(t)
	rec := &recorder{}
	sup := startSupervisor(t, testConfig(t, rec), asServices(layeredServices(t, reaper))...)
	waitHealthy(t, sup)

	before(t, rec, "db", StateHealthy, "api", StateStarting)
	before(t, rec, "cache", StateHealthy, "api", StateStarting)
	before(t, rec, "api", StateHealthy, "web", StateStarting)
	for _, st := range sup.Snapshot() {
		if st.State != StateHealthy || st.Pid == 0 || st.Restarts != 0 || st.LastError != "" {
			t.Errorf("snapshot %+v, want healthy with a pid and no restarts", st)
		}
	}
}

func TestStopInReverseDependencyOrder(t *testing.T) {
	reaper, _ := startReaper(t)
	rec := &recorder{}
	procs := layeredServices(t, reaper)
	sup := startSupervisor(t, testConfig(t, rec), asServices(procs)...)
	waitHealthy(t, sup)
	var pids []int
	for _, p := range procs {
		pids = append(pids, p.Pid())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sup.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	before(t, rec, "web", StateStopped, "api", StateStopping)
	before(t, rec, "api", StateStopped, "db", StateStopping)
	before(t, rec, "api", StateStopped, "cache", StateStopping)
	for _, pid := range pids {
		if !gone(pid) {
			t.Errorf("pid %d survived Stop", pid)
		}
	}
	for _, st := range sup.Snapshot() {
		if st.State != StateStopped || st.Pid != 0 {
			t.Errorf("snapshot %+v, want stopped without a pid", st)
		}
	}
}

// TestCrashingServiceRestartsWithBackoff runs without a Reaper: the service waits for
// its own pid.
func TestCrashingServiceRestartsWithBackoff(t *testing.T) {
	rec := &recorder{}
	svc := newProcess(t, ProcessSpec{Name: "crasher", Argv: sh("exit 3")})
	sup := startSupervisor(t, testConfig(t, rec), svc)

	waitUntil(t, "four restarts", func() bool { return rec.count("crasher", StateRestarting) >= 4 })
	var delays []string
	var restartAt time.Time
	var delay time.Duration
	for _, ev := range rec.all() {
		switch ev.State {
		case StateFailed:
			if !strings.Contains(ev.Error, "process exited: pid ") || !strings.Contains(ev.Error, "exit status 3") {
				t.Errorf("failed event error = %q", ev.Error)
			}
		case StateRestarting:
			delays = append(delays, ev.Fields["delay"])
			restartAt, delay = ev.Time, mustDuration(t, ev.Fields["delay"])
		case StateStarting:
			if !restartAt.IsZero() && ev.Time.Sub(restartAt) < delay {
				t.Errorf("restarted after %s, want at least the backoff %s", ev.Time.Sub(restartAt), delay)
			}
		}
	}
	if want := []string{"20ms", "40ms", "80ms", "160ms"}; strings.Join(delays[:4], " ") != strings.Join(want, " ") {
		t.Errorf("backoff delays = %v, want %v first", delays, want)
	}
	st := sup.Snapshot()[0]
	if st.Restarts < 4 || !strings.Contains(st.LastError, "exit status 3") {
		t.Errorf("snapshot %+v, want >= 4 restarts and the exit status", st)
	}
}

func mustDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestHealthFailureRestarts(t *testing.T) {
	reaper, _ := startReaper(t)
	rec := &recorder{}
	var sick atomic.Bool
	svc := newProcess(t, ProcessSpec{
		Name:   "apid",
		Argv:   sh("exec sleep 30"),
		Reaper: reaper,
		Health: func(context.Context) error {
			if sick.Load() {
				return errors.New("port 50000 refused")
			}
			return nil
		},
	})
	cfg := testConfig(t, rec)
	cfg.FailureThreshold = 2
	sup := startSupervisor(t, cfg, svc)
	waitHealthy(t, sup)
	firstPid := svc.Pid()

	sick.Store(true)
	waitUntil(t, "the health failure", func() bool { return rec.count("apid", StateFailed) >= 1 })
	sick.Store(false)
	waitUntil(t, "healthy again", func() bool { return rec.count("apid", StateHealthy) >= 2 })

	if ev := rec.first("apid", StateRunning); ev.Error != "" {
		t.Errorf("first running event carries error %q", ev.Error)
	}
	failed := rec.first("apid", StateFailed)
	if want := "unhealthy after 2 failed checks in a row: port 50000 refused"; failed.Error != want {
		t.Errorf("failed event error = %q, want %q", failed.Error, want)
	}
	if pid := svc.Pid(); pid == firstPid || pid == 0 {
		t.Errorf("pid after restart = %d, want a new process (was %d)", pid, firstPid)
	}
	if !gone(firstPid) {
		t.Errorf("unhealthy process %d was not killed and reaped", firstPid)
	}
	if st := sup.Snapshot()[0]; st.Restarts != 1 || st.State != StateHealthy {
		t.Errorf("snapshot %+v, want healthy after 1 restart", st)
	}
}

var grandchildLine = regexp.MustCompile(`grandchild=(\d+)`)

// TestStopKillsProcessGroup: the service and its grandchild ignore SIGTERM; Stop must
// escalate to SIGKILL on the whole group, and the orphaned grandchild must be reaped.
func TestStopKillsProcessGroup(t *testing.T) {
	reaper, _ := startReaper(t)
	rec := &recorder{}
	out := &syncBuffer{}
	const stopTimeout = 200 * time.Millisecond
	svc := newProcess(t, ProcessSpec{
		Name:        "stubborn",
		Argv:        sh(`trap "" TERM; sleep 30 & echo grandchild=$!; wait`),
		Output:      out,
		StopTimeout: stopTimeout,
		Reaper:      reaper,
	})
	sup := startSupervisor(t, testConfig(t, rec), svc)
	waitHealthy(t, sup)
	waitUntil(t, "the grandchild's pid", func() bool { return grandchildLine.MatchString(out.String()) })
	grandchild, _ := strconv.Atoi(grandchildLine.FindStringSubmatch(out.String())[1])
	leader := svc.Pid()
	if pgid, err := unix.Getpgid(grandchild); err != nil || pgid != leader {
		t.Fatalf("grandchild %d in group %d (%v), want the service's group %d", grandchild, pgid, err, leader)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	begin := time.Now()
	if err := sup.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if elapsed := time.Since(begin); elapsed < stopTimeout {
		t.Errorf("Stop took %s; SIGTERM was ignored, so it should have waited %s", elapsed, stopTimeout)
	}
	if !gone(leader) {
		t.Errorf("service process %d survived Stop", leader)
	}
	waitUntil(t, "the grandchild to be killed and reaped", func() bool { return gone(grandchild) })
	if ev := rec.first("stubborn", StateStopped); ev.Error != "" {
		t.Errorf("stopped event error = %q, want none", ev.Error)
	}
}

// TestCredentialDropsPrivileges: a service with a Credential runs as that uid/gid.
func TestCredentialDropsPrivileges(t *testing.T) {
	if unix.Geteuid() != 0 {
		t.Skip("changing a child's uid needs root")
	}
	reaper, _ := startReaper(t)
	out := &syncBuffer{}
	svc := newProcess(t, ProcessSpec{
		Name:       "unprivileged",
		Argv:       sh(`echo "ids=$(id -u):$(id -g)"; exec sleep 30`),
		Output:     out,
		Credential: &syscall.Credential{Uid: 65534, Gid: 65534},
		Reaper:     reaper,
	})
	sup := startSupervisor(t, testConfig(t, &recorder{}), svc)
	waitHealthy(t, sup)
	waitUntil(t, "the ids line", func() bool { return strings.Contains(out.String(), "ids=") })
	if !strings.Contains(out.String(), "ids=65534:65534") {
		t.Errorf("service output %q, want ids=65534:65534", out.String())
	}
}

// TestRestartStartsANewProcessWithoutBackoff: Restart replaces the process at once.
func TestRestartStartsANewProcessWithoutBackoff(t *testing.T) {
	reaper, _ := startReaper(t)
	rec := &recorder{}
	svc := newProcess(t, ProcessSpec{Name: "api", Argv: sh("exec sleep 30"), Reaper: reaper})
	cfg := testConfig(t, rec)
	cfg.BackoffBase = time.Hour // a restart that went through backoff would never come back
	sup := startSupervisor(t, cfg, svc)
	waitHealthy(t, sup)
	first := svc.Pid()
	if err := sup.Restart("api"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a new process", func() bool { p := svc.Pid(); return p != 0 && p != first })
	waitHealthy(t, sup)
	if !gone(first) {
		t.Errorf("old process %d still runs", first)
	}
	if err := sup.Restart("nope"); !errors.Is(err, ErrUnknownService) {
		t.Errorf("Restart(nope) = %v", err)
	}
}

// TestHoldKeepsAServiceStopped stops a service through Hold, checks that it stays stopped
// (no restart, however short the backoff) while its dependent keeps running, and that
// Release starts it again; Hold and Release of an unknown name fail.
func TestHoldKeepsAServiceStopped(t *testing.T) {
	reaper, _ := startReaper(t)
	rec := &recorder{}
	svc := newProcess(t, ProcessSpec{Name: "trustd", Argv: sh("exec sleep 30"), Reaper: reaper})
	dependent := newProcess(t, ProcessSpec{Name: "kubelet", Argv: sh("exec sleep 30"), Reaper: reaper, DependsOn: []string{"trustd"}})
	sup := startSupervisor(t, testConfig(t, rec), svc, dependent)
	waitHealthy(t, sup)
	first, dependentPid := svc.Pid(), dependent.Pid()
	if err := sup.Hold("trustd", ""); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "trustd stopped", func() bool { return rec.count("trustd", StateStopped) >= 1 })
	time.Sleep(200 * time.Millisecond) // many backoff periods: nothing may start it
	if st := sup.Snapshot()[0]; st.State != StateStopped || st.Pid != 0 || !gone(first) {
		t.Errorf("held trustd = %+v (old pid %d gone: %v), want stopped with no process", st, first, gone(first))
	}
	if ev := rec.first("trustd", StateStopped); ev.Fields["reason"] != "requested" {
		t.Errorf("stopped event fields = %v, want reason=requested", ev.Fields)
	}
	if rec.count("trustd", StateRestarting) != 0 {
		t.Error("a held service went through restarting")
	}
	if dependent.Pid() != dependentPid {
		t.Errorf("the dependent was restarted: pid %d, was %d", dependent.Pid(), dependentPid)
	}
	if err := sup.Release("trustd"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "trustd running again", func() bool { p := svc.Pid(); return p != 0 && p != first })
	waitHealthy(t, sup)
	for _, err := range []error{sup.Hold("nope", ""), sup.Release("nope")} {
		if !errors.Is(err, ErrUnknownService) {
			t.Errorf("unknown service: err = %v", err)
		}
	}
}

var escapedLine = regexp.MustCompile(`escaped=(\d+)`)

// TestSetsidChildDiesWithItsService reproduces hole 4's second half: the service forks a
// child that calls setsid and forks again, so it is in neither the service's process
// group nor its session, and its parent is gone. A restart and a stop must still end it:
// the service runs in its own cgroup and is stopped with cgroup.kill.
func TestSetsidChildDiesWithItsService(t *testing.T) {
	tree := cgroup.New(cgrouptest.Root(t))
	if err := tree.Setup(0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tree.Close() })
	reaper, _ := startReaper(t)
	rec := &recorder{}
	out := &syncBuffer{}
	svc := newProcess(t, ProcessSpec{
		Name:        "escaper",
		Argv:        sh(`(setsid sh -c 'sleep 60 & echo escaped=$!' &); exec sleep 60`),
		Output:      out,
		StopTimeout: 100 * time.Millisecond,
		Reaper:      reaper,
		Cgroups:     tree,
	})
	sup := startSupervisor(t, testConfig(t, rec), svc)
	waitHealthy(t, sup)
	escaped := waitEscaped(t, out, 1)
	if sid, err := unix.Getsid(escaped); err != nil || sid == svc.Pid() {
		t.Fatalf("escaped pid %d in session %d (%v), want a session of its own", escaped, sid, err)
	}
	if want := filepath.Join(tree.Root(), cgroup.KilnDir, cgroup.ServicesDir, "escaper"); sup.Snapshot()[0].Cgroup != want {
		t.Errorf("snapshot cgroup = %q, want %q", sup.Snapshot()[0].Cgroup, want)
	}

	first := svc.Pid()
	if err := sup.Restart("escaper"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a new process", func() bool { p := svc.Pid(); return p != 0 && p != first })
	waitUntil(t, "the escaped child of the first run to die", func() bool { return gone(escaped) })

	second := waitEscaped(t, out, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sup.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	waitUntil(t, "the escaped child of the second run to die", func() bool { return gone(second) })
}

// waitEscaped waits for the n-th escaped= line of the output and returns its pid.
func waitEscaped(t *testing.T, out *syncBuffer, n int) int {
	t.Helper()
	waitUntil(t, "escaped= line "+strconv.Itoa(n), func() bool { return len(escapedLine.FindAllString(out.String(), -1)) >= n })
	pid, _ := strconv.Atoi(escapedLine.FindAllStringSubmatch(out.String(), -1)[n-1][1])
	return pid
}

// A service's own FailureThreshold replaces the supervisor's: with the supervisor's (1)
// a healthy service is restarted at its first failed check; with its own (4) it rides out
// a failed check and is restarted only at the fourth failure in a row.
func TestServiceFailureThreshold(t *testing.T) {
	var checks atomic.Int32
	// Check 1 healthy, check 2 failed, checks 3–5 healthy, then only failures.
	health := func(context.Context) error {
		if n := checks.Add(1); n == 2 || n >= 6 {
			return errors.New("busy")
		}
		return nil
	}
	rec := &recorder{}
	svc := newProcess(t, ProcessSpec{Name: "patient", Argv: sh("exec sleep 30"), Health: health, FailureThreshold: 4})
	startSupervisor(t, testConfig(t, rec), svc)
	waitUntil(t, "a restart", func() bool { return rec.count("patient", StateRestarting) >= 1 })
	if n := checks.Load(); n < 9 {
		t.Errorf("restarted after %d checks, want the fourth failure in a row (check 9) at the earliest", n)
	}
}
