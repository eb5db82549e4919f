package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kiln-os/kiln/internal/atomicfile"
	"github.com/kiln-os/kiln/internal/kubepayload"
	"github.com/kiln-os/kiln/internal/ocilayout"
	"github.com/kiln-os/kiln/rootfs/squashfs"
)

// kubePayloadIn is what the payload image is made of: the built programs and the CRI
// containerd's config and CNI template from the kubernetes module.
type kubePayloadIn struct {
	Programs  kubernetesOut
	ModuleDir string
	stepEnv
}

// payloadTime stamps every entry of the payload. It is not the image's
// SOURCE_DATE_EPOCH: a payload depends on its programs alone, so commits that do not touch
// Kubernetes keep its bytes, its digest and its cache entry, and two OS versions can pin
// the same payload.
var payloadTime = time.Unix(0, 0).UTC()

// kubePayloadOut is the payload image, inside the cache, and its pin for the root.
type kubePayloadOut struct {
	Path     string
	Pin      kubepayload.Pin
	Versions KubernetesInfo
	cached
}

// payloadBlockSize is the payload squashfs's data block size: 1 MiB, as the root's. The
// programs are read whole at start, and bigger blocks compress them better.
const payloadBlockSize = 1 << 20

// stepKubePayload packs the payload (kubepayload's layout) into a zstd squashfs and pins
// it: its SHA-256 and size go into the root (kubepayload.PinPath). Cached by the digests
// of everything in it.
func stepKubePayload(ctx context.Context, in kubePayloadIn) (kubePayloadOut, error) {
	files, err := payloadFiles(in.Programs.Dir, in.ModuleDir)
	if err != nil {
		return kubePayloadOut{}, err
	}
	parts := []string{"kube-payload-v2"}
	for _, f := range files {
		sum, _, err := FileSHA256(f.src)
		if err != nil {
			return kubePayloadOut{}, err
		}
		parts = append(parts, f.path, sum)
	}
	dir, hit, err := Cache{in.CacheDir}.Step("kube-payload", Key(parts...), func(dir string) error {
		return writePayload(filepath.Join(dir, "payload.sqsh"), files, in.Programs.Versions, payloadTime)
	})
	if err != nil {
		return kubePayloadOut{}, err
	}
	logHit(in.Log, "kube-payload", hit)
	path := filepath.Join(dir, "payload.sqsh")
	sum, size, err := FileSHA256(path)
	if err != nil {
		return kubePayloadOut{}, err
	}
	pin := kubepayload.Pin{File: kubepayload.FileName(sum), SHA256: sum, Size: size, Versions: in.Programs.Versions.Map()}
	return kubePayloadOut{Path: path, Pin: pin, Versions: in.Programs.Versions, cached: cached{hit}}, nil
}

// Map is the versions by component, for the pin.
func (v KubernetesInfo) Map() map[string]string {
	return map[string]string{
		"kubernetes": v.Kubernetes, "etcd": v.Etcd, "containerd": v.Containerd, "cniPlugins": v.CNIPlugins, "go": v.Go,
	}
}

// payloadFile is one regular file of the payload: its path inside, its mode, and where it
// is on the build host.
type payloadFile struct {
	path string
	mode fs.FileMode
	src  string
}

// payloadFiles lists the payload's regular files, sorted by path (the order is part of
// the cache key).
func payloadFiles(programs, moduleDir string) ([]payloadFile, error) {
	files := []payloadFile{
		{kubepayload.BinDir + "/containerd", 0o755, filepath.Join(programs, "containerd")},
		{kubepayload.BinDir + "/kube", 0o755, filepath.Join(programs, "kube")},
	}
	for _, p := range CNIPlugins {
		files = append(files, payloadFile{kubepayload.CNIBinDir + "/" + p, 0o755, filepath.Join(programs, "cni", p)})
	}
	nft, err := nftClosure()
	if err != nil {
		return nil, err
	}
	for _, path := range nft {
		name := filepath.Base(path)
		if path == NFTBinary {
			name = "nft"
		}
		files = append(files, payloadFile{kubepayload.NFTDir + "/" + name, 0o755, path})
	}
	files = append(files,
		payloadFile{kubepayload.CNITemplate, 0o644, filepath.Join(moduleDir, "cni-bridge.conflist.tmpl")},
		payloadFile{kubepayload.CRIConfig, 0o644, filepath.Join(moduleDir, "containerd-cri.toml")},
		payloadFile{"pause", 0o755, filepath.Join(programs, "pause")}, // only inside the sandbox image
	)
	return files, nil
}

// writePayload writes the squashfs: every file of files (pause only inside the sandbox
// image), a hard link per kube program, the sandbox image and versions.json.
func writePayload(path string, files []payloadFile, versions KubernetesInfo, mtime time.Time) error {
	var img bytes.Buffer
	w := squashfs.NewWriter(&img, squashfs.Options{Compression: squashfs.ZSTD, BlockSize: payloadBlockSize, ModTime: mtime})
	w.AddDir(".", 0o755)
	for _, d := range []string{"bin", "cni", "cni/bin", "etc", "images", "lib", kubepayload.NFTDir} {
		w.AddDir(d, 0o755)
	}
	for _, f := range files {
		data, err := os.ReadFile(f.src)
		if err != nil {
			return fmt.Errorf("kubernetes payload: %w", err)
		}
		if f.path == "pause" {
			sandbox, err := sandboxImage(data)
			if err != nil {
				return err
			}
			w.AddFile(kubepayload.SandboxImage, 0o644, bytes.NewReader(sandbox))
			continue
		}
		w.AddFile(f.path, f.mode, bytes.NewReader(data))
	}
	for _, p := range append(slices.Clone(KubePrograms), "nft") {
		w.AddLink(kubepayload.BinDir+"/"+p, kubepayload.BinDir+"/kube")
	}
	var host []string
	for _, f := range files {
		if strings.HasPrefix(f.path, kubepayload.NFTDir+"/") {
			host = append(host, f.src)
		}
	}
	debian, err := debianVersions(host)
	if err != nil {
		return err
	}
	info, err := json.MarshalIndent(struct {
		KubernetesInfo
		Debian map[string]string `json:"debian"` // the packages nft and its libraries come from
	}{versions, debian}, "", "  ")
	if err != nil {
		return err
	}
	w.AddFile(kubepayload.VersionsFile, 0o644, bytes.NewReader(append(info, '\n')))
	if err := w.Close(); err != nil {
		return fmt.Errorf("kubernetes payload: %w", err)
	}
	return atomicfile.Write(path, img.Bytes(), 0o644)
}

// sandboxImage is the pod sandbox image: the pause program as /pause, its entrypoint, run
// as nobody (65535, as upstream's pause image), as an OCI image layout archive named
// kubepayload.SandboxRef. Its entries carry time 0 (ocilayout), whatever the epoch.
func sandboxImage(pause []byte) ([]byte, error) {
	archive, err := ocilayout.Build(kubepayload.SandboxRef, map[string]ocilayout.File{
		"pause": {Mode: 0o755, Data: pause},
	}, ocilayout.Config{Entrypoint: []string{"/pause"}, User: "65535:65535"})
	if err != nil {
		return nil, fmt.Errorf("kubernetes payload: sandbox image: %w", err)
	}
	return archive, nil
}

// pin is the root's pin; nil without a payload.
func (o *kubePayloadOut) pin() *kubepayload.Pin {
	if o == nil {
		return nil
	}
	return &o.Pin
}

// versions is what the manifest records; nil without a payload.
func (o *kubePayloadOut) versions() *KubernetesInfo {
	if o == nil {
		return nil
	}
	return &o.Versions
}

// artifacts is the payload as an artifact of the build, under its pinned name.
func (o *kubePayloadOut) artifacts() []artifact {
	if o == nil {
		return nil
	}
	return []artifact{{"kubernetes-payload", o.Pin.File, o.Path}}
}
