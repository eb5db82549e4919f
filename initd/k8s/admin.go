package k8s

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/internal/atomicfile"
)

// Errors of the cluster operations; the API maps them to gRPC codes.
var (
	// ErrPrecondition: the node cannot do it now (no Kubernetes in its config, not a
	// controlplane, payload not mounted, etcd not running).
	ErrPrecondition = errors.New("k8s: precondition")
	// ErrAlreadyBootstrapped: this node's etcd was bootstrapped already.
	ErrAlreadyBootstrapped = errors.New("k8s: already bootstrapped")
	// ErrBadSnapshot: etcd refuses the snapshot to recover from (cut, changed, not one).
	ErrBadSnapshot = errors.New("k8s: bad snapshot")
)

// Runner runs a program to its end with stdin as its input: stdout to out when given,
// else returned (supervisor.Reaper.Command).
type Runner func(ctx context.Context, argv, env []string, stdin []byte, out io.Writer) ([]byte, error)

// Admin is the cluster operations of the node API: bootstrap, kubeconfig, etcd members
// and snapshot. It reads the node's state from resources and runs the payload's etcdctl
// and kubectl; it never talks to etcd or the API server itself.
type Admin struct {
	Store *resources.Store
	Run   Runner
	Now   func() time.Time
	// Owner writes etcd/Bootstrap (machined).
	Owner string
	// DataDir is etcd's data directory (EtcdDataDir).
	DataDir string
	// SnapshotDir holds a snapshot while it is sent or restored (on EPHEMERAL).
	SnapshotDir string

	bootstrapMu sync.Mutex // one Bootstrap or Recover at a time
}

// controlPlane returns the cluster of a controlplane whose payload is mounted.
func (a *Admin) controlPlane() (*Cluster, error) {
	res, err := a.Store.Get(resources.NamespaceConfig, resources.TypeMachineConfig, resources.MachineConfigID)
	if err != nil {
		return nil, fmt.Errorf("%w: the node has no config yet", ErrPrecondition)
	}
	spec, _ := res.Spec.(*resources.MachineConfigSpec)
	if spec == nil || spec.Config == nil || !spec.Config.Kubernetes() {
		return nil, fmt.Errorf("%w: the node's config runs no Kubernetes (it has no cluster.token)", ErrPrecondition)
	}
	if spec.Config.Machine.Type != config.TypeControlPlane {
		return nil, fmt.Errorf("%w: this node is a %s; ask a controlplane", ErrPrecondition, spec.Config.Machine.Type)
	}
	if st := a.payload(); st.State != resources.PayloadMounted {
		return nil, fmt.Errorf("%w: the Kubernetes payload is %s: %s", ErrPrecondition, st.State, st.Reason)
	}
	return ClusterOf(spec.Config)
}

func (a *Admin) payload() resources.PayloadStatusSpec {
	res, err := a.Store.Get(resources.NamespaceK8s, resources.TypePayloadStatus, resources.PayloadStatusID)
	if err != nil {
		return resources.PayloadStatusSpec{State: "unknown", Reason: "not checked yet"}
	}
	st, _ := res.Spec.(*resources.PayloadStatusSpec)
	if st == nil {
		return resources.PayloadStatusSpec{State: "unknown"}
	}
	return *st
}

// Bootstrap starts a new etcd cluster on this controlplane, once: a node whose etcd
// was bootstrapped already, in this boot or an earlier one (its data directory holds a
// member), refuses.
func (a *Admin) Bootstrap(ctx context.Context, by string) error {
	a.bootstrapMu.Lock()
	defer a.bootstrapMu.Unlock()
	if err := a.mayBootstrap(); err != nil {
		return err
	}
	return a.requestBootstrap(ctx, by, "")
}

// mayBootstrap refuses unless this is a controlplane whose etcd was never bootstrapped.
func (a *Admin) mayBootstrap() error {
	if _, err := a.controlPlane(); err != nil {
		return err
	}
	if _, err := a.Store.Get(resources.NamespaceEtcd, resources.TypeEtcdBootstrap, resources.EtcdBootstrapID); err == nil || HasMember(a.DataDir) {
		return fmt.Errorf("%w: etcd on this node was bootstrapped already (its data is in %s); bootstrap runs once per cluster", ErrAlreadyBootstrapped, a.DataDir)
	}
	return nil
}

// etcdSpec is how etcd runs here: its member name and peer URL.
func (a *Admin) etcdSpec() (*resources.EtcdSpecSpec, error) {
	res, err := a.Store.Get(resources.NamespaceEtcd, resources.TypeEtcdSpec, resources.EtcdSpecID)
	if err != nil {
		return nil, fmt.Errorf("%w: etcd's spec is not derived yet (the node needs its hostname and an address: kilnctl get etcd.Spec)", ErrPrecondition)
	}
	spec, _ := res.Spec.(*resources.EtcdSpecSpec)
	if spec == nil || spec.Name == "" || spec.AdvertisePeerURL == "" {
		return nil, fmt.Errorf("%w: %s names no etcd member and peer URL", ErrPrecondition, res.Metadata)
	}
	return spec, nil
}

// requestBootstrap records the bootstrap; the spec controller then lets etcd start.
func (a *Admin) requestBootstrap(ctx context.Context, by, snapshot string) error {
	_, err := a.Store.Set(ctx, resources.NamespaceEtcd, resources.TypeEtcdBootstrap, resources.EtcdBootstrapID, a.Owner,
		&resources.EtcdBootstrapSpec{Requested: a.Now().UTC(), By: by, Snapshot: snapshot})
	return err
}

// MaxSnapshotBytes bounds a snapshot sent to Recover: etcd's largest backend quota.
const MaxSnapshotBytes = 8 << 30

// bumpRevision is how far a recovery moves etcd's revision past the snapshot's, with
// every older revision marked compacted: clients that watched the lost cluster (the
// API servers' informers) see their revisions gone and list afresh instead of missing
// what changed after the snapshot. etcd's disaster recovery guide for Kubernetes
// suggests a billion, more than any cluster writes between a snapshot and its restore.
const bumpRevision = "1000000000"

// Recover bootstraps this controlplane's etcd from a snapshot of a lost cluster (kilnctl
// etcd snapshot) instead of an empty database: once, with Bootstrap's refusals. The
// snapshot is saved under SnapshotDir and restored by the payload's etcdutl, which
// checks its integrity hash, into a directory beside DataDir that becomes DataDir only
// when the restore succeeded: a refused snapshot leaves nothing behind. The restored
// cluster has this node as its one member, under its own name and peer URL; it returns
// the snapshot's size and SHA-256.
func (a *Admin) Recover(ctx context.Context, r io.Reader, by string) (int64, string, error) {
	a.bootstrapMu.Lock()
	defer a.bootstrapMu.Unlock()
	if err := a.mayBootstrap(); err != nil {
		return 0, "", err
	}
	etcd, err := a.etcdSpec()
	if err != nil {
		return 0, "", err
	}
	snapshot, n, sum, err := a.saveSnapshot(r)
	if err != nil {
		return 0, "", err
	}
	defer os.Remove(snapshot)
	restore := a.DataDir + ".restore"
	if err := os.RemoveAll(restore); err != nil { // a restore cut short (power lost)
		return 0, "", err
	}
	peer := etcd.AdvertisePeerURL
	if _, err := a.Run(ctx, []string{BinDir + "/etcdutl", "snapshot", "restore", snapshot, "--data-dir=" + restore,
		"--name=" + etcd.Name, "--initial-cluster=" + etcd.Name + "=" + peer, "--initial-advertise-peer-urls=" + peer,
		"--bump-revision=" + bumpRevision, "--mark-compacted"}, servicePath, nil, nil); err != nil {
		os.RemoveAll(restore)
		if ctx.Err() != nil {
			return 0, "", ctx.Err()
		}
		return 0, "", fmt.Errorf("%w: the snapshot (%d bytes, SHA-256 %s) is refused: %w", ErrBadSnapshot, n, sum, err)
	}
	// No member there (mayBootstrap): at most an empty directory of a held etcd.
	if err := os.RemoveAll(a.DataDir); err != nil {
		return 0, "", err
	}
	if err := os.Rename(restore, a.DataDir); err != nil {
		return 0, "", err
	}
	if err := atomicfile.SyncDir(filepath.Dir(a.DataDir)); err != nil {
		return 0, "", err
	}
	return n, sum, a.requestBootstrap(ctx, by, sum)
}

// saveSnapshot writes r, at most MaxSnapshotBytes, to a new file under SnapshotDir.
func (a *Admin) saveSnapshot(r io.Reader) (path string, n int64, sum string, err error) {
	if err := os.MkdirAll(a.SnapshotDir, 0o700); err != nil {
		return "", 0, "", err
	}
	f, err := os.CreateTemp(a.SnapshotDir, "recover-*.db")
	if err != nil {
		return "", 0, "", err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	n, err = io.Copy(io.MultiWriter(f, h), io.LimitReader(r, MaxSnapshotBytes+1))
	switch {
	case err != nil:
		return "", 0, "", fmt.Errorf("receive the snapshot: %w", err)
	case n == 0:
		return "", 0, "", fmt.Errorf("%w: the snapshot is empty", ErrBadSnapshot)
	case n > MaxSnapshotBytes:
		return "", 0, "", fmt.Errorf("%w: the snapshot is over %d bytes", ErrBadSnapshot, int64(MaxSnapshotBytes))
	}
	return f.Name(), n, hex.EncodeToString(h.Sum(nil)), nil
}

// Kubeconfig is an administrator's kubeconfig for the cluster: a client certificate in
// system:masters for user, valid for ttl.
func (a *Admin) Kubeconfig(user string, ttl time.Duration) ([]byte, error) {
	c, err := a.controlPlane()
	if err != nil {
		return nil, err
	}
	return c.AdminKubeconfig(user, ttl, a.Now())
}

// Member is one etcd cluster member.
type Member struct {
	ID         string
	Name       string
	PeerURLs   []string
	ClientURLs []string
	Learner    bool
}

// etcdctl runs the payload's etcdctl against the local member with machined's client
// certificate.
func (a *Admin) etcdctl(ctx context.Context, out io.Writer, args ...string) ([]byte, error) {
	if _, err := a.controlPlane(); err != nil {
		return nil, err
	}
	argv := append([]string{BinDir + "/etcdctl", "--endpoints=https://127.0.0.1:" + etcdClientPort,
		"--cacert=" + pki("etcd/ca.crt"), "--cert=" + pki("etcd/machined.crt"), "--key=" + pki("etcd/machined.key"),
		"--dial-timeout=5s", "--command-timeout=60s"}, args...)
	out2, err := a.Run(ctx, argv, servicePath, nil, out)
	if err != nil {
		return nil, fmt.Errorf("%w: etcd does not answer (is the cluster bootstrapped? kilnctl services): %w", ErrPrecondition, err)
	}
	return out2, nil
}

// EtcdMembers lists the cluster's members as the local etcd knows them.
func (a *Admin) EtcdMembers(ctx context.Context) ([]Member, error) {
	out, err := a.etcdctl(ctx, nil, "member", "list", "--write-out=json", "--hex")
	if err != nil {
		return nil, err
	}
	return parseMembers(out)
}

// parseMembers reads etcdctl member list --write-out=json --hex.
func parseMembers(data []byte) ([]Member, error) {
	var list struct {
		Members []struct {
			ID         json.RawMessage `json:"ID"`
			Name       string          `json:"name"`
			PeerURLs   []string        `json:"peerURLs"`
			ClientURLs []string        `json:"clientURLs"`
			IsLearner  bool            `json:"isLearner"`
		} `json:"members"`
	}
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("etcdctl member list: %w", err)
	}
	members := make([]Member, 0, len(list.Members))
	for _, m := range list.Members {
		members = append(members, Member{ID: strings.Trim(string(m.ID), `"`), Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, Learner: m.IsLearner})
	}
	return members, nil
}

// EtcdSnapshot writes a snapshot of the local member's database to w. etcdctl saves it
// to a file under SnapshotDir (it checks the snapshot's integrity as it saves), which is
// streamed and removed.
func (a *Admin) EtcdSnapshot(ctx context.Context, w io.Writer) error {
	if err := os.MkdirAll(a.SnapshotDir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(a.SnapshotDir, "snapshot-*.db")
	if err != nil {
		return err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	defer os.Remove(tmp.Name() + ".part") // etcdctl writes there first
	if _, err := a.etcdctl(ctx, io.Discard, "snapshot", "save", tmp.Name()); err != nil {
		return err
	}
	f, err := os.Open(tmp.Name())
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(w, f)
	if err == nil && n == 0 {
		err = fmt.Errorf("%w: etcd wrote an empty snapshot", ErrPrecondition)
	}
	return err
}

// ApplyManifests applies what a new cluster needs for nodes to join, with the
// payload's kubectl and machined's kubeconfig: the bootstrap token as a Secret, and the
// bindings that let its holders ask for node certificates and have them approved
// (kubelet TLS bootstrapping), and nodes renew theirs. kubectl apply makes it idempotent:
// every controlplane applies it at every start of its API server.
func (a *Admin) ApplyManifests(ctx context.Context, token string) error {
	id, secret, ok := strings.Cut(token, ".")
	if !ok {
		return fmt.Errorf("cluster.token %q: want ID.SECRET", token)
	}
	_, err := a.Run(ctx, []string{BinDir + "/kubectl", "--kubeconfig=" + Dir + "/admin.kubeconfig", "--request-timeout=60s", "apply", "--server-side", "--force-conflicts", "--field-manager=kiln", "-f", "-"},
		servicePath, bootstrapManifests(id, secret), nil)
	return err
}

// bootstrapManifests are the objects ApplyManifests applies: the bindings first, the
// token last. A kubelet that authenticates with the token as soon as its Secret exists
// sends a certificate request at once, and the controller manager's approver checks it
// once, against the bindings there are then.
func bootstrapManifests(id, secret string) []byte {
	var b bytes.Buffer
	for _, binding := range []struct{ name, role, group string }{
		{"kiln:node-bootstrapper", "system:node-bootstrapper", bootstrapGroup},
		{"kiln:node-autoapprove-bootstrap", "system:certificates.k8s.io:certificatesigningrequests:nodeclient", bootstrapGroup},
		{"kiln:node-autoapprove-certificate-rotation", "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", "system:nodes"},
		// kube-proxy and pod-routes run with the kubelet's credentials (k8s.Cluster.Services);
		// system:node-proxier lets them list and watch every Node (the Node authorizer
		// alone would let a node read only its own).
		{"kiln:node-proxier", "system:node-proxier", "system:nodes"},
	} {
		fmt.Fprintf(&b, `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: %s
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: %s
subjects:
  - apiGroup: rbac.authorization.k8s.io
    kind: Group
    name: %s
---
`, binding.name, binding.role, binding.group)
	}
	fmt.Fprintf(&b, `apiVersion: v1
kind: Secret
metadata:
  name: bootstrap-token-%[1]s
  namespace: kube-system
type: bootstrap.kubernetes.io/token
stringData:
  token-id: %[1]q
  token-secret: %[2]q
  usage-bootstrap-authentication: "true"
  usage-bootstrap-signing: "true"
  auth-extra-groups: %[3]s
`, id, secret, bootstrapGroup)
	return b.Bytes()
}

// bootstrapGroup is the group the bootstrap token authenticates into (the bootstrap
// token authenticator requires the system:bootstrappers: prefix).
const bootstrapGroup = "system:bootstrappers:kiln:default-node-token"
