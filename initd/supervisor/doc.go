// Package supervisor runs machined's long-lived services (containerd, apid, trustd, then
// etcd and kubelet): it starts them in dependency order, checks their health, restarts
// them with exponential backoff and stops them in reverse order.
//
// This is the room for process lifecycle inside PID 1. It must not know what a service
// does (no configuration, no networking, no API code) and must not exit or reboot the
// machine: it reports through events, Snapshot and returned errors only.
//
// # Services
//
// A Service is the small interface Name, DependsOn, Start, Stop, Health. ProcessService
// implements it for a command: the child runs in its own process group (Setpgid), with
// stdin on /dev/null and stdout and stderr going to a log sink. Stop sends SIGTERM to the
// group, waits StopTimeout, then sends SIGKILL to the group, always, so that grandchildren
// which ignored SIGTERM or outlived the main process die too.
//
// With ProcessSpec.Cgroups (PID 1 always sets it) each run of the process also gets a
// fresh cgroup of its own (package cgroup): the child is cloned into it
// (CLONE_INTO_CGROUP), and the final SIGKILL is cgroup.kill on that cgroup, after which
// Stop waits until the cgroup is empty and removes it. A process that left the group
// with setsid, or double-forked away from the service, dies with it too.
//
// # Supervision
//
// New checks the dependency graph (unknown names, cycles) and orders it. Start gives every
// service its own goroutine, which
//
//  1. waits until every dependency reports healthy (on every start, not only the first),
//  2. calls Start, then watches the service: its process exiting (services that implement
//     Wait) or its health checks failing (FailureThreshold in a row once healthy, or no
//     success within StartTimeout) ends the run,
//  3. stops what is left of the run (Stop kills the process group), waits a backoff that
//     doubles from BackoffBase up to BackoffMax and starts again. A run that stayed
//     healthy for BackoffReset resets the backoff.
//
// A restarting dependency does not restart its dependents. Stop cancels dependents first
// and a service only after all its dependents have stopped; independent services start
// and stop concurrently.
//
// # Reaping
//
// PID 1 inherits every orphan of the system and must wait4(-1) for them, but such a wait
// also collects the exit status of supervised children, which exec.Cmd.Wait (wait4 on one
// pid) would then never see: the two race. So under PID 1 nothing waits for one pid.
// A single Reaper owns all waiting: on SIGCHLD it calls wait4(-1, WNOHANG) until no zombie
// is left and hands each status to the Child registered for that pid; unregistered pids
// are orphans, logged and dropped. Reaper.Start forks the child while holding the lock
// the dispatcher needs, so a child that exits at once is registered before its status
// can be looked up. Without a Reaper (tests, tools) ProcessService waits for its own pid.
//
// While a Reaper runs, every child of the process must be started through it: a plain
// exec.Cmd would lose its exit status to the reaper. In tests, a process made a child
// subreaper (PR_SET_CHILD_SUBREAPER) receives orphans the way PID 1 does.
package supervisor
