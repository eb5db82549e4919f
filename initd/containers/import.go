package containers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	contentapi "github.com/containerd/containerd/api/services/content/v1"
	diffapi "github.com/containerd/containerd/api/services/diff/v1"
	imagesapi "github.com/containerd/containerd/api/services/images/v1"
	leasesapi "github.com/containerd/containerd/api/services/leases/v1"
	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// Labels that keep what Import stores from containerd's garbage collector
// (containerd docs/garbage-collection.md): an image record references its target
// manifest; a blob references other blobs with containerd.io/gc.ref.content.<name> and a
// snapshot with containerd.io/gc.ref.snapshot.<snapshotter>; a committed snapshot keeps
// its parents. So image → manifest → config and layers, and config → the top snapshot
// → every layer below it. containerd.io/uncompressed records a layer's diff ID, as
// containerd's own unpacker does.
const (
	labelRefConfig   = "containerd.io/gc.ref.content.config"
	labelRefLayer    = "containerd.io/gc.ref.content.l."
	labelRefSnapshot = "containerd.io/gc.ref.snapshot." + Snapshotter
	labelUncompress  = "containerd.io/uncompressed"
	// labelExpire makes a lease collectable if Import dies before deleting it.
	labelExpire = "containerd.io/gc.expire"
	// leaseKey is the gRPC metadata key containerd reads a lease from.
	leaseKey = "containerd-lease"
)

// writeChunk is the content Write stream's message payload size.
const writeChunk = 1 << 20

// Import spools the archive under the import directory, checks it whole, then stores
// and unpacks every image in it and creates (or moves) their image records last. Until
// the records are written everything is held by a containerd lease, which is deleted
// at the end: what a failed import wrote is garbage, and no image record points at it.
func (c *Client) Import(ctx context.Context, r io.Reader, limit int64) ([]Image, error) {
	f, err := spool(c.importDir, r, limit)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	a, err := readArchive(f)
	if err != nil { // the archive's fault: the spooled file itself was read
		return nil, fmt.Errorf("import: %w: %w", ErrInvalidArchive, err)
	}
	return c.storeArchive(ctx, a, "import")
}

// storeArchive stores and unpacks the checked images of a (an imported archive or a
// pull's spooled blobs) and writes their image records last, all under one containerd
// lease (named kiln-<op>-…) that is deleted at the end: what a failed store wrote is
// garbage, and no image record points at it. Errors start with op.
func (c *Client) storeArchive(ctx context.Context, a *archive, op string) ([]Image, error) {
	ctx, done, err := c.withLease(ctx, "kiln-"+op+"-", true)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer done()
	for _, img := range a.images {
		if err := c.store(ctx, a, img); err != nil {
			return nil, fmt.Errorf("%s %s: %w", op, img.name, err)
		}
	}
	if err := c.writeRecords(ctx, a.images); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	var out []Image
	for _, img := range a.images {
		i, err := c.Image(ctx, img.name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		out = append(out, i)
	}
	return out, nil
}

// withLease returns ctx carrying a new lease named prefix and a random suffix, and the
// func that deletes it; with sync, containerd collects what nothing references before
// the delete answers, so a failed import's garbage is gone when Import returns.
func (c *Client) withLease(ctx context.Context, prefix string, sync bool) (context.Context, func(), error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, nil, err
	}
	id := prefix + hex.EncodeToString(b[:])
	_, err := c.leases.Create(c.ns(ctx), &leasesapi.CreateRequest{ID: id, Labels: map[string]string{
		labelExpire: time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339),
	}})
	if err != nil {
		return nil, nil, fmt.Errorf("containerd lease: %w", err)
	}
	done := func() {
		// Deleted even when ctx has ended: the expiry label is only the fallback.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		c.leases.Delete(c.ns(dctx), &leasesapi.DeleteRequest{ID: id, Sync: sync}) //nolint:errcheck // expires anyway
	}
	return metadata.AppendToOutgoingContext(ctx, leaseKey, id), done, nil
}

// store writes one image's blobs and unpacks its layers.
func (c *Client) store(ctx context.Context, a *archive, img archiveImage) error {
	chain := chainIDs(img.layers)
	for i, l := range img.layers {
		labels := map[string]string{labelUncompress: l.diffID.String()}
		if err := c.writeBlob(ctx, a, l.desc, labels); err != nil {
			return err
		}
		if err := c.unpackLayer(ctx, l, chain, i); err != nil {
			return err
		}
	}
	cfgLabels := map[string]string{}
	if len(chain) > 0 {
		cfgLabels[labelRefSnapshot] = chain[len(chain)-1].String()
	}
	if err := c.writeBlob(ctx, a, img.config, cfgLabels); err != nil {
		return err
	}
	manLabels := map[string]string{labelRefConfig: img.config.Digest.String()}
	for i, l := range img.layers {
		manLabels[labelRefLayer+strconv.Itoa(i)] = l.desc.Digest.String()
	}
	return c.writeBlob(ctx, a, img.manifest, manLabels)
}

// chainIDs are the layers' snapshot names (image-spec config.md, "Layer ChainID"):
// chainID(0) = diffID(0); chainID(n) = sha256(chainID(n-1) + " " + diffID(n)).
func chainIDs(layers []layer) []digest.Digest {
	var out []digest.Digest
	for i, l := range layers {
		if i == 0 {
			out = append(out, l.diffID)
			continue
		}
		out = append(out, digest.FromString(out[i-1].String()+" "+l.diffID.String()))
	}
	return out
}

// writeBlob stores desc's blob from the archive with labels, or only sets the labels
// when the content store already holds it.
func (c *Client) writeBlob(ctx context.Context, a *archive, desc ocispec.Descriptor, labels map[string]string) error {
	_, err := c.content.Info(c.ns(ctx), &contentapi.InfoRequest{Digest: desc.Digest.String()})
	if err == nil {
		return c.labelBlob(ctx, desc, labels)
	}
	if !isNotFound(err) {
		return fmt.Errorf("content %s: %w", desc.Digest, err)
	}
	r, err := a.open(desc, "import")
	if err != nil {
		return err
	}
	err = c.sendBlob(ctx, r, desc, labels)
	if status.Code(err) == codes.AlreadyExists { // written meanwhile by someone else
		return c.labelBlob(ctx, desc, labels)
	}
	return err
}

// sendBlob runs one content Write stream: data at increasing offsets with the expected
// digest and size, then a commit, reading the answer to each message (containerd
// answers every message; unread answers would stall the stream).
func (c *Client) sendBlob(ctx context.Context, r io.Reader, desc ocispec.Descriptor, labels map[string]string) error {
	stream, err := c.content.Write(c.ns(ctx))
	if err != nil {
		return fmt.Errorf("content write %s: %w", desc.Digest, err)
	}
	ref := "kiln-import-" + desc.Digest.Encoded()
	buf := make([]byte, writeChunk)
	var off int64
	for {
		n, rerr := io.ReadFull(r, buf)
		req := &contentapi.WriteContentRequest{
			Action: contentapi.WriteAction_WRITE, Ref: ref, Offset: off, Data: buf[:n],
			Total: desc.Size, Expected: desc.Digest.String(),
		}
		last := errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF)
		if rerr != nil && !last {
			return fmt.Errorf("content write %s: %w", desc.Digest, rerr)
		}
		if last {
			req.Action = contentapi.WriteAction_COMMIT
			req.Labels = labels
		}
		if err := stream.Send(req); err != nil {
			return fmt.Errorf("content write %s: %w", desc.Digest, recvErr(stream, err))
		}
		if _, err := stream.Recv(); err != nil {
			return fmt.Errorf("content write %s: %w", desc.Digest, err)
		}
		off += int64(n)
		if last {
			return stream.CloseSend()
		}
	}
}

// recvErr returns the stream's status when Send failed with io.EOF (gRPC reports the
// server's error on Recv).
func recvErr(stream contentapi.Content_WriteClient, err error) error {
	if errors.Is(err, io.EOF) {
		if _, rerr := stream.Recv(); rerr != nil {
			return rerr
		}
	}
	return err
}

func (c *Client) labelBlob(ctx context.Context, desc ocispec.Descriptor, labels map[string]string) error {
	if len(labels) == 0 {
		return nil
	}
	mask := &fieldmaskpb.FieldMask{}
	for k := range labels {
		mask.Paths = append(mask.Paths, "labels."+k)
	}
	_, err := c.content.Update(c.ns(ctx), &contentapi.UpdateRequest{
		Info:       &contentapi.Info{Digest: desc.Digest.String(), Labels: labels},
		UpdateMask: mask,
	})
	if err != nil {
		return fmt.Errorf("content label %s: %w", desc.Digest, err)
	}
	return nil
}

// unpackLayer applies layer i onto the snapshot of layer i-1 and commits it as chain[i];
// a layer already unpacked (its chain ID's snapshot exists) is skipped.
func (c *Client) unpackLayer(ctx context.Context, l layer, chain []digest.Digest, i int) error {
	name := chain[i].String()
	_, err := c.snapshots.Stat(c.ns(ctx), &snapshotsapi.StatSnapshotRequest{Snapshotter: Snapshotter, Key: name})
	if err == nil {
		return nil
	}
	if !isNotFound(err) {
		return fmt.Errorf("snapshot %s: %w", name, err)
	}
	parent := ""
	if i > 0 {
		parent = chain[i-1].String()
	}
	// A key of its own, so imports running together do not meet; a key a crashed import
	// left is held only by its lease, and collected when that expires.
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	key := "kiln-unpack-" + hex.EncodeToString(b[:]) + "-" + l.desc.Digest.Encoded()
	prep, err := c.snapshots.Prepare(c.ns(ctx), &snapshotsapi.PrepareSnapshotRequest{Snapshotter: Snapshotter, Key: key, Parent: parent})
	if err != nil {
		return fmt.Errorf("snapshot prepare %s: %w", name, err)
	}
	if err := c.applyAndCommit(ctx, l, prep.GetMounts(), key, name, parent); err != nil {
		c.snapshots.Remove(c.ns(ctx), &snapshotsapi.RemoveSnapshotRequest{Snapshotter: Snapshotter, Key: key}) //nolint:errcheck // the lease collects it otherwise
		return err
	}
	return nil
}

func (c *Client) applyAndCommit(ctx context.Context, l layer, mounts []*types.Mount, key, name, parent string) error {
	applied, err := c.diff.Apply(c.ns(ctx), &diffapi.ApplyRequest{
		Diff:   &types.Descriptor{MediaType: l.desc.MediaType, Digest: l.desc.Digest.String(), Size: l.desc.Size},
		Mounts: mounts,
	})
	if err != nil {
		return fmt.Errorf("apply layer %s: %w", l.desc.Digest, err)
	}
	if got := applied.GetApplied().GetDigest(); got != l.diffID.String() {
		return fmt.Errorf("apply layer %s: containerd applied %s, want diff ID %s", l.desc.Digest, got, l.diffID)
	}
	_, err = c.snapshots.Commit(c.ns(ctx), &snapshotsapi.CommitSnapshotRequest{Snapshotter: Snapshotter, Name: name, Key: key, Parent: parent})
	if status.Code(err) == codes.AlreadyExists { // unpacked meanwhile
		c.snapshots.Remove(c.ns(ctx), &snapshotsapi.RemoveSnapshotRequest{Snapshotter: Snapshotter, Key: key}) //nolint:errcheck
		return nil
	}
	if err != nil {
		return fmt.Errorf("snapshot commit %s: %w", name, err)
	}
	return nil
}

// writeRecords creates or moves the image records; on a failure the records written so
// far are put back as they were.
func (c *Client) writeRecords(ctx context.Context, imgs []archiveImage) error {
	var undo []func()
	for _, img := range imgs {
		u, err := c.writeRecord(ctx, img)
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
			return fmt.Errorf("image %s: %w", img.name, err)
		}
		undo = append(undo, u)
	}
	return nil
}

func (c *Client) writeRecord(ctx context.Context, img archiveImage) (undo func(), err error) {
	target := &types.Descriptor{MediaType: img.manifest.MediaType, Digest: img.manifest.Digest.String(), Size: img.manifest.Size}
	uctx := context.WithoutCancel(ctx)
	_, err = c.images.Create(c.ns(ctx), &imagesapi.CreateImageRequest{Image: &imagesapi.Image{Name: img.name, Target: target}})
	if err == nil {
		return func() {
			c.images.Delete(c.ns(uctx), &imagesapi.DeleteImageRequest{Name: img.name}) //nolint:errcheck // best effort undo
		}, nil
	}
	if status.Code(err) != codes.AlreadyExists {
		return nil, err
	}
	old, err := c.imageRecord(ctx, img.name)
	if err != nil {
		return nil, err
	}
	mask := &fieldmaskpb.FieldMask{Paths: []string{"target"}}
	_, err = c.images.Update(c.ns(ctx), &imagesapi.UpdateImageRequest{Image: &imagesapi.Image{Name: img.name, Target: target}, UpdateMask: mask})
	if err != nil {
		return nil, err
	}
	return func() {
		c.images.Update(c.ns(uctx), &imagesapi.UpdateImageRequest{Image: old, UpdateMask: mask}) //nolint:errcheck // best effort undo
	}, nil
}

// manifest reads an image record's target manifest from the content store.
func (c *Client) manifest(ctx context.Context, img *imagesapi.Image) (ocispec.Manifest, error) {
	var m ocispec.Manifest
	b, err := c.readContent(ctx, img.GetTarget().GetDigest(), maxJSONBlob)
	if err != nil {
		return m, fmt.Errorf("image %s: %w", img.GetName(), err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("image %s: manifest %s: %w", img.GetName(), img.GetTarget().GetDigest(), err)
	}
	return m, nil
}

// imageConfig reads an image's config and its layers' chain IDs.
func (c *Client) imageConfig(ctx context.Context, img *imagesapi.Image) (ocispec.Image, []digest.Digest, error) {
	var cfg ocispec.Image
	m, err := c.manifest(ctx, img)
	if err != nil {
		return cfg, nil, err
	}
	b, err := c.readContent(ctx, m.Config.Digest.String(), maxJSONBlob)
	if err != nil {
		return cfg, nil, fmt.Errorf("image %s: %w", img.GetName(), err)
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return cfg, nil, fmt.Errorf("image %s: config %s: %w", img.GetName(), m.Config.Digest, err)
	}
	var layers []layer
	for _, d := range cfg.RootFS.DiffIDs {
		layers = append(layers, layer{diffID: d})
	}
	return cfg, chainIDs(layers), nil
}

func layerDigests(m ocispec.Manifest) []string {
	var out []string
	for _, l := range m.Layers {
		out = append(out, l.Digest.String())
	}
	return out
}
