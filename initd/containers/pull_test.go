package containers

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-os/kiln/internal/ocilayout"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// testImage is one image as a registry holds it: its manifest (by media type) and blobs.
type testImage struct {
	manifest  []byte
	mediaType string
	blobs     map[digest.Digest][]byte // config and layers
}

func (i testImage) desc(platform string) ocispec.Descriptor {
	d := ocispec.Descriptor{MediaType: i.mediaType, Digest: digest.FromBytes(i.manifest), Size: int64(len(i.manifest))}
	if os, arch, ok := strings.Cut(platform, "/"); ok {
		d.Platform = &ocispec.Platform{OS: os, Architecture: arch}
	}
	return d
}

// helloImage takes the hello image's manifest and blobs out of an ocilayout archive.
func helloImage(t *testing.T, opts ...ocilayout.Option) testImage {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(helloArchive(t, "kiln.test/hello:1", opts...)))
	files := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[hdr.Name] = b
	}
	var idx ocispec.Index
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	img := testImage{mediaType: ocispec.MediaTypeImageManifest, blobs: map[digest.Digest][]byte{}}
	img.manifest = files["blobs/sha256/"+idx.Manifests[0].Digest.Encoded()]
	var m ocispec.Manifest
	if err := json.Unmarshal(img.manifest, &m); err != nil {
		t.Fatal(err)
	}
	for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		img.blobs[d.Digest] = files["blobs/sha256/"+d.Digest.Encoded()]
	}
	return img
}

// docker rewrites the image's manifest with Docker's schema 2 media types.
func (i testImage) docker(t *testing.T) testImage {
	t.Helper()
	var m ocispec.Manifest
	if err := json.Unmarshal(i.manifest, &m); err != nil {
		t.Fatal(err)
	}
	m.MediaType, m.Config.MediaType = mediaDockerManifest, mediaDockerConfig
	for k := range m.Layers {
		m.Layers[k].MediaType = mediaDockerLayer
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return testImage{manifest: b, mediaType: mediaDockerManifest, blobs: i.blobs}
}

func indexOf(t *testing.T, mediaType string, descs ...ocispec.Descriptor) []byte {
	t.Helper()
	b, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: mediaType, Manifests: descs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testRegistry is an OCI distribution registry in memory, for one repository.
type testRegistry struct {
	t    *testing.T
	srv  *httptest.Server
	repo string

	mu        sync.Mutex
	manifests map[string]served // by tag and by digest
	blobs     map[digest.Digest][]byte
	token     string // when set, /v2/ wants "Bearer <token>", handed out at /token
	redirect  string // when set, blobs answer 307 to this base URL + /storage/<digest>
	requests  []string
}

type served struct {
	mediaType string
	body      []byte
}

// newRegistry starts a registry over TLS (tls) or plain HTTP.
func newRegistry(t *testing.T, tls bool) *testRegistry {
	r := &testRegistry{t: t, repo: "kiln/hello", manifests: map[string]served{}, blobs: map[digest.Digest][]byte{}}
	if tls {
		r.srv = httptest.NewTLSServer(r)
	} else {
		r.srv = httptest.NewServer(r)
	}
	t.Cleanup(r.srv.Close)
	return r
}

func (r *testRegistry) host() string { return r.srv.Listener.Addr().String() }

// pool holds the registry's certificate.
func (r *testRegistry) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(r.srv.Certificate())
	return p
}

// add serves img's manifest under tag (and its digest) and its blobs.
func (r *testRegistry) add(tag string, img testImage) {
	r.serve(tag, img.mediaType, img.manifest)
	r.mu.Lock()
	defer r.mu.Unlock()
	for d, b := range img.blobs {
		r.blobs[d] = b
	}
}

// serve puts a manifest or index under tag and under its digest.
func (r *testRegistry) serve(tag, mediaType string, body []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := served{mediaType: mediaType, body: body}
	r.manifests[tag] = s
	r.manifests[digest.FromBytes(body).String()] = s
}

func (r *testRegistry) asked() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.requests...)
}

func (r *testRegistry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, req.URL.Path)
	if req.URL.Path == "/token" {
		q := req.URL.Query()
		if q.Get("service") != "kiln.test" || q.Get("scope") != "repository:"+r.repo+":pull" || req.Header.Get("Authorization") != "" {
			http.Error(w, "bad token request "+req.URL.RawQuery, http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, `{"token":%q}`, r.token)
		return
	}
	if r.token != "" && req.Header.Get("Authorization") != "Bearer "+r.token {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s/token",service="kiln.test",scope="repository:%s:pull"`, r.srv.URL, r.repo))
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
		return
	}
	prefix := "/v2/" + r.repo + "/"
	rest, ok := strings.CutPrefix(req.URL.Path, prefix)
	switch {
	case ok && strings.HasPrefix(rest, "manifests/"):
		m, ok := r.manifests[strings.TrimPrefix(rest, "manifests/")]
		if !ok || !strings.Contains(strings.Join(req.Header.Values("Accept"), ","), m.mediaType) {
			http.Error(w, `{"errors":[{"code":"MANIFEST_UNKNOWN"}]}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", m.mediaType)
		w.Header().Set("Docker-Content-Digest", digest.FromBytes(m.body).String())
		w.Write(m.body) //nolint:errcheck // the client's problem
	case ok && strings.HasPrefix(rest, "blobs/"):
		d := digest.Digest(strings.TrimPrefix(rest, "blobs/"))
		if r.redirect != "" {
			http.Redirect(w, req, r.redirect+"/storage/"+d.Encoded(), http.StatusTemporaryRedirect)
			return
		}
		b, ok := r.blobs[d]
		if !ok {
			http.Error(w, `{"errors":[{"code":"BLOB_UNKNOWN"}]}`, http.StatusNotFound)
			return
		}
		w.Write(b) //nolint:errcheck
	default:
		http.NotFound(w, req)
	}
}

// pullClient is a Client on the fake containerd that trusts reg's certificate.
func pullClient(t *testing.T, reg *testRegistry) (*fakeContainerd, *Client) {
	f, c := newFake(t)
	WithRegistryCAs(reg.pool())(c)
	return f, c
}

// checkStored says the pull wrote the image as an import does: three blobs, one layer
// unpacked and committed, the image record last, named as pulled.
func checkStored(t *testing.T, f *fakeContainerd, img Image, ref string, manifest []byte) {
	t.Helper()
	if img.Name != ref || img.Digest != digest.FromBytes(manifest).String() || img.Platform != wantPlatform {
		t.Errorf("pulled %+v, want %s at %s", img, ref, digest.FromBytes(manifest))
	}
	for prefix, want := range map[string]int{"write ": 3, "prepare ": 1, "apply ": 1, "commit ": 1, "image create ": 1} {
		if got := f.count(prefix); got != want {
			t.Errorf("%d %q calls, want %d: %q", got, prefix, want, f.writes())
		}
	}
	if w := f.writes(); len(w) == 0 || w[len(w)-1] != "image create "+ref {
		t.Errorf("the image record is not written last: %q", w)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.badNS {
		t.Error("a call came without the kiln namespace")
	}
	man := f.images[ref].GetTarget().GetDigest()
	if l := f.labels[man]; l[labelRefConfig] == "" || l[labelRefLayer+"0"] == "" {
		t.Errorf("manifest labels %v", l)
	}
}

// checkNothingStored says containerd was not written to, and no spool file is left.
func checkNothingStored(t *testing.T, f *fakeContainerd, c *Client) {
	t.Helper()
	if w := f.writes(); len(w) != 0 {
		t.Errorf("wrote %q", w)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.images) != 0 {
		t.Errorf("images %v", f.images)
	}
	if left, err := os.ReadDir(c.importDir); err == nil && len(left) != 0 {
		t.Errorf("left in the import directory: %v", left)
	}
}

func TestPullManifestByTag(t *testing.T) {
	reg := newRegistry(t, true)
	img := helloImage(t)
	reg.add("1", img)
	f, c := pullClient(t, reg)
	ref := reg.host() + "/kiln/hello:1"
	got, err := c.Pull(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	checkStored(t, f, got, ref, img.manifest)
	if again, err := c.Image(context.Background(), ref); err != nil || again.Digest != got.Digest {
		t.Errorf("Image(%s) = %+v, %v", ref, again, err)
	}
}

func TestPullIndexPicksLinuxAMD64(t *testing.T) {
	reg := newRegistry(t, true)
	img := helloImage(t)
	reg.add("", img) // by digest only
	arm := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("arm64 manifest"), Size: 14,
		Platform: &ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}
	reg.serve("1", ocispec.MediaTypeImageIndex, indexOf(t, ocispec.MediaTypeImageIndex, arm, img.desc("linux/amd64")))
	f, c := pullClient(t, reg)
	ref := reg.host() + "/kiln/hello:1"
	got, err := c.Pull(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	checkStored(t, f, got, ref, img.manifest)
	for _, p := range reg.asked() {
		if strings.Contains(p, arm.Digest.Encoded()) {
			t.Errorf("fetched the arm64 manifest: %s", p)
		}
	}
}

func TestPullDockerMediaTypes(t *testing.T) {
	reg := newRegistry(t, true)
	img := helloImage(t).docker(t)
	reg.add("", img)
	reg.serve("1", mediaDockerList, indexOf(t, mediaDockerList, img.desc("linux/amd64")))
	f, c := pullClient(t, reg)
	ref := reg.host() + "/kiln/hello:1"
	got, err := c.Pull(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	checkStored(t, f, got, ref, img.manifest)
	if mt := f.images[ref].GetTarget().GetMediaType(); mt != mediaDockerManifest {
		t.Errorf("image target media type %q", mt)
	}
}

// A digest reference is fetched by digest, and the content must have that digest.
func TestPullByDigest(t *testing.T) {
	reg := newRegistry(t, true)
	img := helloImage(t)
	reg.add("1", img)
	f, c := pullClient(t, reg)
	d := digest.FromBytes(img.manifest)
	ref := reg.host() + "/kiln/hello@" + d.String()
	got, err := c.Pull(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	checkStored(t, f, got, ref, img.manifest)
	if a := reg.asked(); a[0] != "/v2/kiln/hello/manifests/"+d.String() {
		t.Errorf("asked %q", a)
	}

	// A registry answering other content for the digest is refused.
	reg2 := newRegistry(t, true)
	other := helloImage(t).docker(t)
	reg2.add("1", other)
	reg2.mu.Lock()
	reg2.manifests[d.String()] = served{mediaType: other.mediaType, body: other.manifest}
	reg2.mu.Unlock()
	f2, c2 := pullClient(t, reg2)
	_, err = c2.Pull(context.Background(), reg2.host()+"/kiln/hello@"+d.String())
	if err == nil || !strings.Contains(err.Error(), "content is "+digest.FromBytes(other.manifest).String()) {
		t.Errorf("err = %v", err)
	}
	checkNothingStored(t, f2, c2)
}

func TestPullBearerToken(t *testing.T) {
	reg := newRegistry(t, true)
	reg.token = "anonymous-token"
	img := helloImage(t)
	reg.add("1", img)
	f, c := pullClient(t, reg)
	ref := reg.host() + "/kiln/hello:1"
	got, err := c.Pull(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	checkStored(t, f, got, ref, img.manifest)
	want := []string{"/v2/kiln/hello/manifests/1", "/token", "/v2/kiln/hello/manifests/1"}
	if a := reg.asked(); len(a) < 3 || strings.Join(a[:3], " ") != strings.Join(want, " ") {
		t.Errorf("requests %q, want %q then the blobs", a, want)
	}
	if n := strings.Count(strings.Join(reg.asked(), " "), "/token"); n != 1 {
		t.Errorf("%d token requests, want 1 (the token is kept for the blobs)", n)
	}
}

// A registry that wants credentials (Basic) is refused with a message saying the config
// holds none.
func TestPullCredentialsWanted(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="kiln"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	f, c := newFake(t)
	p := x509.NewCertPool()
	p.AddCert(srv.Certificate())
	WithRegistryCAs(p)(c)
	_, err := c.Pull(context.Background(), srv.Listener.Addr().String()+"/kiln/hello:1")
	if err == nil || !strings.Contains(err.Error(), "no registry credentials") || !strings.Contains(err.Error(), "repository kiln/hello") {
		t.Errorf("err = %v", err)
	}
	checkNothingStored(t, f, c)
}

func TestPullRedirectedBlob(t *testing.T) {
	img := helloImage(t)
	var mu sync.Mutex
	served := 0
	storage := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		served++
		mu.Unlock()
		b, ok := img.blobs[digest.NewDigestFromEncoded(digest.SHA256, strings.TrimPrefix(req.URL.Path, "/storage/"))]
		if !ok {
			http.NotFound(w, req)
			return
		}
		w.Write(b) //nolint:errcheck
	}))
	defer storage.Close()
	reg := newRegistry(t, true)
	reg.add("1", img)
	reg.redirect = storage.URL // another host:port
	f, c := newFake(t)
	pool := reg.pool()
	pool.AddCert(storage.Certificate())
	WithRegistryCAs(pool)(c)
	ref := reg.host() + "/kiln/hello:1"
	got, err := c.Pull(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	checkStored(t, f, got, ref, img.manifest)
	mu.Lock()
	defer mu.Unlock()
	if served != 2 {
		t.Errorf("the storage served %d blobs, want the config and the layer", served)
	}
}

// A redirect to plain HTTP is refused unless that host is allowed.
func TestPullRedirectToHTTPRefused(t *testing.T) {
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	reg := newRegistry(t, true)
	reg.add("1", helloImage(t))
	reg.redirect = plain.URL
	f, c := pullClient(t, reg)
	_, err := c.Pull(context.Background(), reg.host()+"/kiln/hello:1")
	if err == nil || !strings.Contains(err.Error(), "not HTTPS") || !strings.Contains(err.Error(), "blob sha256:") {
		t.Errorf("err = %v", err)
	}
	checkNothingStored(t, f, c)
}

// Plain HTTP only to a host in the allow-list.
func TestPullInsecureRegistry(t *testing.T) {
	reg := newRegistry(t, false)
	img := helloImage(t)
	reg.add("1", img)
	ref := reg.host() + "/kiln/hello:1"

	f, c := newFake(t)
	if _, err := c.Pull(context.Background(), ref); err == nil || !strings.Contains(err.Error(), "registry "+reg.host()) {
		t.Errorf("pulled over plain HTTP without the allow-list: %v", err)
	}
	checkNothingStored(t, f, c)

	f, c = newFake(t)
	WithInsecureRegistries(reg.host())(c)
	got, err := c.Pull(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	checkStored(t, f, got, ref, img.manifest)
}

// Refusals: each error names what is at fault, and containerd is not written to.
func TestPullRefused(t *testing.T) {
	img := helloImage(t)
	var m ocispec.Manifest
	if err := json.Unmarshal(img.manifest, &m); err != nil {
		t.Fatal(err)
	}
	layer := m.Layers[0].Digest
	for _, tt := range []struct {
		name  string
		setup func(*testRegistry, *Client)
		tag   string
		want  []string
	}{
		{name: "blob digest mismatch", tag: "1",
			setup: func(r *testRegistry, _ *Client) {
				b := bytes.Clone(r.blobs[layer])
				b[len(b)/2] ^= 0xff
				r.blobs[layer] = b
			},
			want: []string{"registry 127.0.0.1:", "repository kiln/hello", "blob " + layer.String(), "content is sha256:"}},
		{name: "no linux/amd64", tag: "1",
			setup: func(r *testRegistry, _ *Client) {
				arm, ppc := img.desc("linux/arm64"), img.desc("linux/ppc64le")
				r.serve("1", ocispec.MediaTypeImageIndex, indexOf(t, ocispec.MediaTypeImageIndex, arm, ppc))
			},
			want: []string{"repository kiln/hello", "no linux/amd64 manifest (found linux/arm64, linux/ppc64le)"}},
		{name: "unknown tag", tag: "2",
			want: []string{"registry 127.0.0.1:", "repository kiln/hello", "manifest 2", "HTTP 404"}},
		{name: "missing blob", tag: "1",
			setup: func(r *testRegistry, _ *Client) { delete(r.blobs, layer) },
			want:  []string{"repository kiln/hello", "blob " + layer.String(), "HTTP 404"}},
		{name: "size limit", tag: "1",
			setup: func(_ *testRegistry, c *Client) { c.pullLimit = int64(len(img.manifest)) + 10 },
			want:  []string{"repository kiln/hello", "blob sha256:", "would exceed"}},
		{name: "platform in the config", tag: "1",
			setup: func(r *testRegistry, _ *Client) {
				r.add("1", helloImage(t, ocilayout.WithPlatform("linux/arm64")))
			},
			want: []string{"kiln/hello@sha256:", "platform linux/arm64"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reg := newRegistry(t, true)
			reg.add("1", img)
			f, c := pullClient(t, reg)
			if tt.setup != nil {
				tt.setup(reg, c)
			}
			_, err := c.Pull(context.Background(), reg.host()+"/kiln/hello:"+tt.tag)
			if err == nil {
				t.Fatal("pulled")
			}
			t.Log(err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			checkNothingStored(t, f, c)
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.calls) != 0 {
				t.Errorf("called containerd before the image was checked: %q", f.calls)
			}
		})
	}
}

// Pulls of one reference run one at a time: a pull that waited for another finds the
// image stored and fetches nothing.
func TestPullSameRefTogether(t *testing.T) {
	reg := newRegistry(t, true)
	img := helloImage(t)
	reg.add("1", img)
	f, c := pullClient(t, reg)
	ref := reg.host() + "/kiln/hello:1"
	ctx := context.Background()
	unlock, waited, err := c.lockPull(ctx, ref)
	if err != nil || waited {
		t.Fatalf("lockPull = %v, %v", waited, err)
	}
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := c.Pull(ctx, ref)
			errs <- err
		}()
	}
	time.Sleep(20 * time.Millisecond) // both are waiting for the lock (a late one would fetch again: still correct)
	unlock()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := f.count("image create "); n != 1 {
		t.Errorf("%d image records created: %q", n, f.writes())
	}
	manifests := 0
	for _, p := range reg.asked() {
		if strings.Contains(p, "/manifests/") {
			manifests++
		}
	}
	if manifests > 2 {
		t.Errorf("%d manifest requests for two pulls", manifests)
	}

	// A pull waiting for the lock gives up with its context.
	unlock, _, _ = c.lockPull(ctx, ref)
	defer unlock()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := c.Pull(cctx, ref); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Pull while locked = %v", err)
	}
}

// A pull that fails once writing has begun leaves no image record, and its lease goes.
func TestPullStoreFailsLeavesNoImage(t *testing.T) {
	reg := newRegistry(t, true)
	reg.add("1", helloImage(t))
	f, c := pullClient(t, reg)
	f.failApply = true
	ref := reg.host() + "/kiln/hello:1"
	_, err := c.Pull(context.Background(), ref)
	if err == nil || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), "pull "+ref) {
		t.Fatalf("err = %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.images) != 0 {
		t.Errorf("images %v", f.images)
	}
	if last := f.calls[len(f.calls)-1]; !strings.HasPrefix(last, "lease delete kiln-pull-") {
		t.Errorf("the pull's lease was not deleted last: %q", f.calls)
	}
}

// The oracle: a pull from the in-process registry into a real containerd
// (KILN_CONTAINERD_BIN_DIR, see realContainerd), with Docker's media types.
func TestContainerdPull(t *testing.T) {
	c := realContainerd(t)
	reg := newRegistry(t, true)
	img := helloImage(t).docker(t)
	reg.add("", img)
	reg.serve("1", mediaDockerList, indexOf(t, mediaDockerList, img.desc("linux/amd64")))
	WithRegistryCAs(reg.pool())(c)
	ref := reg.host() + "/kiln/hello:1"
	got, err := c.Pull(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != digest.FromBytes(img.manifest).String() || got.Platform != wantPlatform {
		t.Errorf("pulled %+v", got)
	}
	list, err := c.Images(context.Background())
	if err != nil || len(list) != 1 || list[0].Name != ref {
		t.Errorf("Images = %+v, %v", list, err)
	}
}
