package machined

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/kiln-os/kiln/initd/containers"
	"github.com/kiln-os/kiln/initd/disks"
	"github.com/kiln-os/kiln/initd/k8s"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/internal/kubepayload"
)

// kubePayloadStore holds verified copies of the Kubernetes payload, on EPHEMERAL.
var kubePayloadStore = filepath.Join(disks.EphemeralMount, "lib", "kiln", "kubernetes")

// kubernetesControllers are the Kubernetes payload, spec and setup controllers for this
// boot: the payload is the one the root pins, copied (when the store lacks it) from the
// ESP of the disk this node booted from.
func (m *Machined) kubernetesControllers() (*k8s.PayloadController, *k8s.Controller, *k8s.SetupController) {
	pin, pinErr := k8s.ReadPin("/")
	payload := k8s.Payload{Pin: pin, StoreDir: kubePayloadStore, MountPoint: k8s.PayloadDir,
		Sources: []k8s.Source{espSource{live: func() bool { return m.medium.Medium.Live() }}}}
	log := m.Log.WithField("component", "kubernetes")
	return &k8s.PayloadController{Payload: payload, PinErr: pinErr, Log: log, Emit: m.Sink.Emit},
		&k8s.Controller{Dir: k8s.Dir, Now: time.Now, Log: log},
		&k8s.SetupController{ImportSandbox: k8s.ImportSandbox, ApplyManifests: m.kubeAdmin().ApplyManifests, Log: log}
}

// importPayload stores a payload sent over the API (kilnctl image import): this
// release's, and the payload controller looks again; or one for another release, kept
// in the store for the upgrade to it.
func (m *Machined) importPayload(ctx context.Context, r io.Reader) (containers.Image, error) {
	if m.kubePayload.Pin.SHA256 == "" {
		return containers.Image{}, errors.New("this image pins no Kubernetes payload (it was built without one)")
	}
	imp, err := m.kubePayload.Import(r)
	if err != nil {
		return containers.Image{}, err
	}
	stored := containers.Image{Digest: "sha256:" + imp.SHA256, Size: imp.Size}
	if !imp.Pinned {
		stored.Name = fmt.Sprintf("%s (not this release's, which pins %s: kept for the release that pins it)", imp.File, m.kubePayload.Pin.File)
		return stored, nil
	}
	stored.Name = imp.File + " (this release's Kubernetes payload)"
	_, err = m.Resources.Set(ctx, resources.NamespaceK8s, resources.TypePayloadImport, resources.PayloadImportID, owner,
		&resources.PayloadImportSpec{Imported: time.Now().UTC(), SHA256: imp.SHA256})
	return stored, err
}

// criRuntime is the CRI containerd's client (namespace k8s.io), made at the first call.
func (m *Machined) criRuntime() containers.Runtime {
	m.criOnce.Do(func() {
		c, err := containers.New(k8s.CRISocket, containers.WithNamespace("k8s.io"))
		if err != nil {
			m.Log.WithError(err).Error("CRI containerd client")
			return
		}
		m.criClient = c
	})
	if m.criClient == nil {
		return nil
	}
	return m.criClient
}

// espSource reads a payload file off the booted disk's ESP (kubepayload.ESPDir), which
// is mounted for the time of the read. A node running from a live medium has no ESP of
// its own to read.
type espSource struct{ live func() bool }

func (espSource) String() string { return "the ESP" }

func (s espSource) Open(name string) (io.ReadCloser, int64, error) {
	if s.live() {
		return nil, 0, fmt.Errorf("the node runs from a live medium, not its disk's ESP: %w", fs.ErrNotExist)
	}
	done, err := openESP()
	if err != nil {
		return nil, 0, err
	}
	f, err := os.Open(filepath.Join(espMount, kubepayload.ESPDir, name))
	if err != nil {
		done()
		return nil, 0, fmt.Errorf("the ESP: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		done()
		return nil, 0, err
	}
	return espFile{f, done}, fi.Size(), nil
}

// espFile unmounts the ESP when it is closed.
type espFile struct {
	*os.File
	done func()
}

func (f espFile) Close() error {
	err := f.File.Close()
	f.done()
	return err
}

// kubeAdmin is the node's side of the cluster calls; its programs run under the reaper.
func (m *Machined) kubeAdmin() *k8s.Admin {
	return &k8s.Admin{Store: m.Resources, Run: m.Reaper.Command, Now: time.Now, Owner: owner, DataDir: k8s.EtcdDataDir,
		SnapshotDir: filepath.Join(disks.EphemeralMount, "lib", "kiln", "etcd-snapshots")}
}

// startKubernetesHealth checks Kubernetes every 10 s for the rest of the boot (it does
// nothing while the config runs no Kubernetes).
func (m *Machined) startKubernetesHealth() {
	h := &k8s.Health{Store: m.Resources, Owner: "KubernetesHealth", Interval: 10 * time.Second,
		Log: m.Log.WithField("component", "kubernetes")}
	go h.Run(context.Background())
}
