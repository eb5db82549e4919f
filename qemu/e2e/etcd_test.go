package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/k8s"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/internal/oracle"
)

// TestEtcdThreeMembers runs the payload's etcd as three native processes on loopback (no
// VM): the members form one cluster, it keeps serving with one member stopped, a snapshot
// saved the way a node saves it (etcdctl snapshot save, as kilnctl etcd snapshot does) is
// recovered the way a node recovers (k8s.Admin.Recover, the payload's etcdutl) into a new
// one-member cluster that has every key, and a snapshot with one byte changed is refused
// and leaves nothing behind.
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
	// The recovery as a node does it (kilnctl bootstrap --recover-from): k8s.Admin.Recover,
	// with the payload's etcdutl, into a new one-member cluster.
	for _, m := range members[:2] {
		m.cmd.Process.Kill()
		m.cmd.Wait()
	}
	client, peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t)), fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	admin := recoveryAdmin(t, kube, "r0", peer)

	// A changed byte: etcdutl checks the snapshot's SHA-256 trailer and refuses it, and
	// the refused restore leaves nothing behind.
	data, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if _, _, err := admin.Recover(ctx, bytes.NewReader(data), "admin"); !errors.Is(err, k8s.ErrBadSnapshot) || !strings.Contains(err.Error(), "expected sha256") {
		t.Errorf("recovery from a changed snapshot: %v; want ErrBadSnapshot saying why", err)
	}
	if left, _ := filepath.Glob(admin.DataDir + "*"); len(left) != 0 {
		t.Errorf("the refused recovery left %v", left)
	}
	if left, _ := os.ReadDir(admin.SnapshotDir); len(left) != 0 {
		t.Errorf("the refused recovery left %v in %s", left, admin.SnapshotDir)
	}

	f, err := os.Open(snap)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, _, err := admin.Recover(ctx, f, "admin"); err != nil {
		t.Fatalf("recovery: %v", err)
	}
	startEtcd("r0", client, peer, "r0="+peer, "new", admin.DataDir)
	waitUntil(t, "the restored member healthy", work, time.Second, 2*time.Minute, func() bool {
		out, err := etcdctl(client, "endpoint", "health")
		return err == nil && strings.Contains(out, "is healthy")
	})
	// The revision moved past the snapshot's, so that watchers list afresh.
	if out, err := etcdctl(client, "endpoint", "status", "-w", "json"); err != nil {
		t.Errorf("endpoint status: %v\n%s", err, out)
	} else if rev := jsonInt(out, "revision"); rev < 1_000_000_000 {
		t.Errorf("revision %d after the recovery, want it bumped past 1e9:\n%s", rev, out)
	}
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

// recoveryAdmin is a k8s.Admin of a controlplane whose payload programs are kube's
// (the payload's multi-call binary, run natively), with etcd named name at peer.
func recoveryAdmin(t *testing.T, kube, name, peer string) *k8s.Admin {
	t.Helper()
	secrets, err := config.GenerateSecrets(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if secrets.Kubernetes, err = config.GenerateKubernetesSecrets(time.Now()); err != nil {
		t.Fatal(err)
	}
	cp, _, err := config.Generate(config.GenerateInput{Secrets: secrets, ClusterName: "recover", Endpoint: "https://127.0.0.1:6443"})
	if err != nil {
		t.Fatal(err)
	}
	store := resources.New(resources.Config{})
	for _, r := range []struct {
		ns, typ, id string
		spec        any
	}{
		{resources.NamespaceConfig, resources.TypeMachineConfig, resources.MachineConfigID, &resources.MachineConfigSpec{Config: cp}},
		{resources.NamespaceK8s, resources.TypePayloadStatus, resources.PayloadStatusID, &resources.PayloadStatusSpec{State: resources.PayloadMounted}},
		{resources.NamespaceEtcd, resources.TypeEtcdSpec, resources.EtcdSpecID, &resources.EtcdSpecSpec{Name: name, AdvertisePeerURL: peer}},
	} {
		if _, err := store.Set(context.Background(), r.ns, r.typ, r.id, "test", r.spec); err != nil {
			t.Fatal(err)
		}
	}
	work := t.TempDir()
	return &k8s.Admin{Store: store, Now: time.Now, Owner: "test", DataDir: filepath.Join(work, "etcd"), SnapshotDir: filepath.Join(work, "snapshots"),
		Run: func(ctx context.Context, argv, _ []string, _ []byte, _ io.Writer) ([]byte, error) {
			args := append([]string{strings.TrimPrefix(argv[0], k8s.BinDir+"/")}, argv[1:]...)
			out, err := exec.CommandContext(ctx, kube, args...).CombinedOutput()
			if err != nil {
				return nil, fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, out)
			}
			return out, nil
		}}
}

// jsonInt finds the first "key":number in out.
func jsonInt(out, key string) int64 {
	_, rest, ok := strings.Cut(out, `"`+key+`":`)
	if !ok {
		return -1
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(rest)
	}
	n, _ := strconv.ParseInt(rest[:end], 10, 64)
	return n
}
