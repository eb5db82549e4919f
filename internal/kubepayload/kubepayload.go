// Package kubepayload is the contract between the builder and the node for the Kubernetes
// payload: where the signed root pins it, where the node mounts it, and what is where
// inside it.
//
// The payload is a squashfs image outside the UKI (it is about ten times the UKI's size
// budget). The UKI's root carries its SHA-256 (PinPath): the node hashes the payload
// before it mounts it and refuses any other bytes, so the payload is as trusted as the
// signed image that names it, and a node can only run the Kubernetes its UKI was built
// with.
package kubepayload

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
)

// PinPath is where the root holds the pin (Pin as JSON), without the leading slash.
const PinPath = "usr/lib/kiln/kubernetes.json"

// MountPoint is the empty directory of the root that the node mounts the payload on,
// without the leading slash.
const MountPoint = "opt/kubernetes"

// ESPDir is the folder of the ESP (of disk.raw, of the ISO's boot image, of an installed
// disk) that holds the payload file of each UKI there, without a leading slash.
// systemd-boot reads only EFI/BOOT, EFI/systemd, EFI/Linux and loader.
const ESPDir = "EFI/kiln"

// Paths inside the payload.
const (
	// BinDir holds the kube multi-call binary and a hard link to it per program
	// (etcd, kubelet, kubectl, ...) and the CRI containerd.
	BinDir = "bin"
	// CNIBinDir holds the CNI plugins.
	CNIBinDir = "cni/bin"
	// CRIConfig is the CRI containerd's config.
	CRIConfig = "etc/containerd-cri.toml"
	// CNITemplate is the CNI config template the CRI containerd renders once the kubelet
	// tells it the node's pod CIDR.
	CNITemplate = "etc/cni-bridge.conflist.tmpl"
	// SandboxImage is the pod sandbox image (the pause program) as an OCI image layout
	// archive, imported into the CRI containerd before the kubelet starts.
	SandboxImage = "images/sandbox.tar"
	// NFTDir holds Debian's nft, the shared libraries it loads and their loader: the kube
	// binary's nft program (bin/nft) runs it from there, for kube-proxy.
	NFTDir = "lib/nft"
	// VersionsFile says what the payload was built from.
	VersionsFile = "versions.json"
)

// SandboxRef is the sandbox image's name: the CRI containerd's config pins it, and the
// archive at SandboxImage carries it.
const SandboxRef = "kiln.local/pause:1"

// Pin is what the signed root says about the payload.
type Pin struct {
	// File is the payload's file name: kubernetes-<first 12 hex digits of SHA256>.sqsh, so
	// that payloads of different images sit side by side on a medium.
	File string `json:"file"`
	// SHA256 is the hex SHA-256 of the whole file.
	SHA256 string `json:"sha256"`
	// Size is its length in bytes.
	Size int64 `json:"size"`
	// Versions are the components' versions (module versions, Go).
	Versions map[string]string `json:"versions"`
}

// ErrBadPin is returned for a pin that cannot name a payload.
var ErrBadPin = errors.New("kubepayload: bad pin")

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// FileName is the payload's name for a digest.
func FileName(sha256 string) string { return "kubernetes-" + sha256[:12] + ".sqsh" }

// ParsePin decodes and checks a pin.
func ParsePin(data []byte) (Pin, error) {
	var p Pin
	if err := json.Unmarshal(data, &p); err != nil {
		return Pin{}, fmt.Errorf("%w: %w", ErrBadPin, err)
	}
	if !sha256Hex.MatchString(p.SHA256) {
		return Pin{}, fmt.Errorf("%w: sha256 %q is not 64 lowercase hex digits", ErrBadPin, p.SHA256)
	}
	if p.File != FileName(p.SHA256) {
		return Pin{}, fmt.Errorf("%w: file %q, want %q for its digest", ErrBadPin, p.File, FileName(p.SHA256))
	}
	if p.Size <= 0 {
		return Pin{}, fmt.Errorf("%w: size %d", ErrBadPin, p.Size)
	}
	return p, nil
}
