package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/internal/oracle"
)

// TestEtcdThreeMembers runs the payload's etcd as three native processes on loopback (no
// VM): the members form one cluster, it keeps serving with one member stopped, a snapshot
// saved the way a node saves it (etcdctl snapshot save, as kilnctl etcd snapshot does) is
// restored with the payload's etcdutl into a new one-member cluster that has every key,
// and a snapshot with one byte changed is refused by the restore.
func TestEtcdThreeMembers(t *testing.T) {
	img := requireImage(t)
	oracle.Require(t, "unsquashfs", "squashfs-tools")
	work := t.TempDir()
	kube := payloadKubectl(t, artifact(t, img, "kubernetes-payload"), work) // bin/kube: every program
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	type member struct {
		name, client, peer string
		cmd                *exec.Cmd
	}
	members := make([]*member, 3)
	var initial []string
	for i := range members {
		m := &member{name: fmt.Sprintf("m%d", i), client: fmt.Sprintf("http://127.0.0.1:%d", freePort(t)), peer: fmt.Sprintf("http://127.0.0.1:%d", freePort(t))}
		members[i] = m
		initial = append(initial, m.name+"="+m.peer)
	}
	startEtcd := func(name, client, peer, cluster, state, dataDir string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, kube, "etcd", "--name", name, "--data-dir", dataDir,
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", cluster, "--initial-cluster-state", state, "--initial-cluster-token", "kiln-test",
			// Slower than the defaults (100 ms, 1 s): a loaded two-core host stalls processes.
			"--heartbeat-interval", "250", "--election-timeout", "2500", "--log-level", "warn")
		log, _ := os.Create(filepath.Join(work, name+".log"))
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	for _, m := range members {
		m.cmd = startEtcd(m.name, m.client, m.peer, strings.Join(initial, ","), "new", filepath.Join(work, m.name))
	}
	etcdctl := func(endpoints string, args ...string) (string, error) {
		full := append([]string{"etcdctl", "--endpoints", endpoints, "--command-timeout", "10s"}, args...)
		out, err := exec.CommandContext(ctx, kube, full...).CombinedOutput()
		return string(out), err
	}
	all := members[0].client + "," + members[1].client + "," + members[2].client
	waitUntil(t, "three healthy members", work, time.Second, 2*time.Minute, func() bool {
		out, err := etcdctl(all, "endpoint", "health")
		return err == nil && strings.Count(out, "is healthy") == 3
	})
	if out, err := etcdctl(all, "member", "list"); err != nil || strings.Count(out, "started") != 3 {
		t.Fatalf("member list: %v\n%s", err, out)
	}
	for i := range 20 {
		if out, err := etcdctl(members[i%3].client, "put", fmt.Sprintf("/kiln/key%02d", i), fmt.Sprintf("value%d", i)); err != nil {
			t.Fatalf("put through %s: %v\n%s", members[i%3].name, err, out)
		}
	}
	// One member down: two of three are a quorum (after an election, if it was the
	// leader).
	members[2].cmd.Process.Kill()
	members[2].cmd.Wait()
	waitUntil(t, "a write with one member stopped", work, time.Second, 2*time.Minute, func() bool {
		_, err := etcdctl(members[0].client, "put", "/kiln/after-stop", "still-served")
		return err == nil
	})

	snap := filepath.Join(work, "etcd.snapshot")
	if out, err := etcdctl(members[1].client, "snapshot", "save", snap); err != nil {
		t.Fatalf("snapshot save: %v\n%s", err, out)
	}
	if out, err := exec.CommandContext(ctx, kube, "etcdutl", "snapshot", "status", snap, "-w", "table").CombinedOutput(); err != nil {
		t.Fatalf("etcdutl snapshot status: %v\n%s", err, out)
	}
	// A changed byte: the restore checks the snapshot's SHA-256 trailer and refuses it.
	bad := filepath.Join(work, "bad.snapshot")
	data, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	os.WriteFile(bad, data, 0o600)
	if out, err := exec.CommandContext(ctx, kube, "etcdutl", "snapshot", "restore", bad, "--data-dir", filepath.Join(work, "bad-restore")).CombinedOutput(); err == nil {
		t.Errorf("etcdutl restored a changed snapshot:\n%s", out)
	} else if !strings.Contains(string(out), "expected sha256") {
		t.Errorf("etcdutl's refusal does not say why:\n%s", out)
	}
	// (The refused restore leaves a partial data directory behind: a restore on a node
	// must go into a new directory renamed into place only once it succeeded.)

	// The restore: a new one-member cluster from the snapshot.
	for _, m := range members[:2] {
		m.cmd.Process.Kill()
		m.cmd.Wait()
	}
	client, peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t)), fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	restored := filepath.Join(work, "restored")
	if out, err := exec.CommandContext(ctx, kube, "etcdutl", "snapshot", "restore", snap, "--data-dir", restored,
		"--name", "r0", "--initial-cluster", "r0="+peer, "--initial-advertise-peer-urls", peer, "--initial-cluster-token", "kiln-restored").CombinedOutput(); err != nil {
		t.Fatalf("etcdutl snapshot restore: %v\n%s", err, out)
	}
	startEtcd("r0", client, peer, "r0="+peer, "new", restored)
	waitUntil(t, "the restored member healthy", work, time.Second, 2*time.Minute, func() bool {
		out, err := etcdctl(client, "endpoint", "health")
		return err == nil && strings.Contains(out, "is healthy")
	})
	out, err := etcdctl(client, "get", "/kiln/", "--prefix", "--keys-only")
	if err != nil {
		t.Fatalf("get after the restore: %v\n%s", err, out)
	}
	if n := len(strings.Fields(out)); n != 21 {
		t.Errorf("the restored cluster has %d keys under /kiln/, want 21:\n%s", n, out)
	}
	if out, _ := etcdctl(client, "member", "list"); strings.Count(out, "started") != 1 {
		t.Errorf("the restored cluster's members, want one:\n%s", out)
	}
}
