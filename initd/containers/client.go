package containers

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	containersapi "github.com/containerd/containerd/api/services/containers/v1"
	contentapi "github.com/containerd/containerd/api/services/content/v1"
	diffapi "github.com/containerd/containerd/api/services/diff/v1"
	imagesapi "github.com/containerd/containerd/api/services/images/v1"
	leasesapi "github.com/containerd/containerd/api/services/leases/v1"
	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	versionapi "github.com/containerd/containerd/api/services/version/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Defaults for the directories a Client is given.
const (
	// DefaultImportDir is where archives are spooled while they are checked: on
	// EPHEMERAL, as an archive may be up to MaxImportBytes.
	DefaultImportDir = "/var/lib/kiln/import"
	// DefaultRunDir holds each container's FIFOs, hosts and resolv.conf (<id>/, 0700).
	DefaultRunDir = "/run/kiln/containers"
	// DefaultResolvConf is where machined's network writes the node's resolvers
	// (initd/machined.ResolvConf); containers get a copy.
	DefaultResolvConf = "/run/kiln/resolv.conf"
)

// namespaceKey is the gRPC metadata key containerd reads the namespace from
// (containerd's pkg/namespaces, GRPCHeader).
const namespaceKey = "containerd-namespace"

// Option changes a Client's defaults.
type Option func(*Client)

// WithNamespace makes every call in a containerd namespace other than Kiln's (the CRI
// containerd's pods and images are in k8s.io).
func WithNamespace(namespace string) Option { return func(c *Client) { c.namespace = namespace } }

// WithImportDir sets the directory archives are spooled to.
func WithImportDir(dir string) Option { return func(c *Client) { c.importDir = dir } }

// WithRunDir sets the directory the containers' FIFOs and files are made under.
func WithRunDir(dir string) Option { return func(c *Client) { c.runDir = dir } }

// WithResolvConf sets the resolv.conf copied into containers.
func WithResolvConf(path string) Option { return func(c *Client) { c.resolvConf = path } }

// Client is a Runtime on containerd's gRPC API.
type Client struct {
	conn       *grpc.ClientConn
	namespace  string // containerd's namespace of every call: Namespace unless WithNamespace
	importDir  string
	runDir     string
	resolvConf string

	insecure    map[string]bool // registry hosts pulled from over plain HTTP
	registryCAs *x509.CertPool  // nil: the node's CA bundle
	pullLimit   int64           // bytes one pull may fetch; 0: MaxImportBytes

	content    contentapi.ContentClient
	images     imagesapi.ImagesClient
	snapshots  snapshotsapi.SnapshotsClient
	diff       diffapi.DiffClient
	leases     leasesapi.LeasesClient
	containers containersapi.ContainersClient
	tasks      tasksapi.TasksClient
	version    versionapi.VersionClient

	mu      sync.Mutex
	running map[string]*running      // started by this Client, by ID
	pulling map[string]chan struct{} // one pull at a time per reference (lockPull)
}

var _ Runtime = (*Client)(nil)

// New returns a Client for containerd's socket. It does not dial until the first call, so
// it succeeds while containerd is still starting.
func New(socket string, opts ...Option) (*Client, error) {
	conn, err := grpc.NewClient("unix://"+socket,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20), grpc.MaxCallSendMsgSize(16<<20)))
	if err != nil {
		return nil, fmt.Errorf("containerd %s: %w", socket, err)
	}
	c := &Client{
		conn:       conn,
		namespace:  Namespace,
		importDir:  DefaultImportDir,
		runDir:     DefaultRunDir,
		resolvConf: DefaultResolvConf,
		content:    contentapi.NewContentClient(conn),
		images:     imagesapi.NewImagesClient(conn),
		snapshots:  snapshotsapi.NewSnapshotsClient(conn),
		diff:       diffapi.NewDiffClient(conn),
		leases:     leasesapi.NewLeasesClient(conn),
		containers: containersapi.NewContainersClient(conn),
		tasks:      tasksapi.NewTasksClient(conn),
		version:    versionapi.NewVersionClient(conn),
		running:    map[string]*running{},
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Close closes the connection and stops reading the containers' output. The containers
// keep running (their shims own them), but one that goes on writing blocks once its
// FIFO is full: Close is for machined's shutdown, which stops them next.
func (c *Client) Close() error {
	c.mu.Lock()
	for id, r := range c.running {
		r.stop()
		delete(c.running, id)
	}
	c.mu.Unlock()
	return c.conn.Close()
}

// ns adds the client's containerd namespace to ctx.
func (c *Client) ns(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, namespaceKey, c.namespace)
}

func isNotFound(err error) bool { return status.Code(err) == codes.NotFound }

// Version answers containerd's version.
func (c *Client) Version(ctx context.Context) (string, error) {
	v, err := c.version.Version(c.ns(ctx), &emptypb.Empty{})
	if err != nil {
		return "", fmt.Errorf("containerd version: %w", err)
	}
	return v.GetVersion(), nil
}

// Containers lists the IDs of the containers in Namespace, sorted.
func (c *Client) Containers(ctx context.Context) ([]string, error) {
	resp, err := c.containers.List(c.ns(ctx), &containersapi.ListContainersRequest{})
	if err != nil {
		return nil, fmt.Errorf("containerd list containers: %w", err)
	}
	var ids []string
	for _, ctr := range resp.GetContainers() {
		ids = append(ids, ctr.GetID())
	}
	sort.Strings(ids)
	return ids, nil
}

// Images lists the images in Namespace, sorted by name.
func (c *Client) Images(ctx context.Context) ([]Image, error) {
	resp, err := c.images.List(c.ns(ctx), &imagesapi.ListImagesRequest{})
	if err != nil {
		return nil, fmt.Errorf("containerd list images: %w", err)
	}
	var out []Image
	for _, img := range resp.GetImages() {
		i, err := c.describe(ctx, img)
		if err != nil {
			return nil, err
		}
		out = append(out, i)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Image resolves ref; the error wraps ErrImageNotFound when containerd has no such image.
func (c *Client) Image(ctx context.Context, ref string) (Image, error) {
	img, err := c.imageRecord(ctx, ref)
	if err != nil {
		return Image{}, err
	}
	return c.describe(ctx, img)
}

func (c *Client) imageRecord(ctx context.Context, ref string) (*imagesapi.Image, error) {
	resp, err := c.images.Get(c.ns(ctx), &imagesapi.GetImageRequest{Name: ref})
	if isNotFound(err) {
		return nil, fmt.Errorf("%w: %s", ErrImageNotFound, ref)
	}
	if err != nil {
		return nil, fmt.Errorf("containerd image %s: %w", ref, err)
	}
	return resp.GetImage(), nil
}

// describe sums the image's manifest, config and layers from the content store. Import
// stores the linux/amd64 manifest as an image's target, so the platform is that.
func (c *Client) describe(ctx context.Context, img *imagesapi.Image) (Image, error) {
	out := Image{
		Name:    img.GetName(),
		Digest:  img.GetTarget().GetDigest(),
		Size:    img.GetTarget().GetSize(),
		Created: img.GetCreatedAt().AsTime(),
	}
	switch img.GetTarget().GetMediaType() {
	case ocispec.MediaTypeImageManifest, mediaDockerManifest:
	default: // not written by Import (an index from another client): shown, not summed
		return out, nil
	}
	man, err := c.manifest(ctx, img)
	if err != nil {
		return Image{}, err
	}
	for _, d := range append([]string{man.Config.Digest.String()}, layerDigests(man)...) {
		info, err := c.content.Info(c.ns(ctx), &contentapi.InfoRequest{Digest: d})
		if err != nil {
			return Image{}, fmt.Errorf("image %s: content %s: %w", img.GetName(), d, err)
		}
		out.Size += info.GetInfo().GetSize()
	}
	out.Platform = wantPlatform
	return out, nil
}

// readContent reads a whole blob of at most max bytes from the content store.
func (c *Client) readContent(ctx context.Context, dgst string, max int64) ([]byte, error) {
	stream, err := c.content.Read(c.ns(ctx), &contentapi.ReadContentRequest{Digest: dgst})
	if err != nil {
		return nil, err
	}
	var b []byte
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			return nil, fmt.Errorf("content %s: %w", dgst, err)
		}
		b = append(b, resp.GetData()...)
		if int64(len(b)) > max {
			return nil, fmt.Errorf("content %s: larger than %d bytes", dgst, max)
		}
	}
}
