package containers

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Pulling follows the OCI distribution spec v1.1 ("Pulling manifests", "Pulling
// blobs") with Docker's token authentication for anonymous pulls: the registry answers
// 401 with a Bearer challenge, the token endpoint it names hands out a token without
// credentials, and the request is sent again with it. The machine config carries no
// registry credentials yet, so a registry that wants them is refused with an error
// saying so.
//
// Everything goes over HTTPS checked against the node's CA bundle (crypto/x509's system
// pool, which reads /etc/ssl/certs/ca-certificates.crt on the node); plain HTTP only to
// the hosts given to WithInsecureRegistries. Every blob is bounded, digest-checked as it
// streams into a spool file under the import directory, and then checked whole like an
// imported archive (checkManifest) before containerd sees a byte; storing is Import's
// (storeArchive).

// pullAccept lists the manifest media types a pull asks for.
var pullAccept = []string{ocispec.MediaTypeImageIndex, ocispec.MediaTypeImageManifest, mediaDockerList, mediaDockerManifest}

// maxIndexDepth bounds index → index → manifest nesting.
const maxIndexDepth = 2

// maxTokenBody bounds a token endpoint's answer.
const maxTokenBody = 1 << 20

// WithInsecureRegistries lets the client pull from these registry hosts (host or
// host:port, as in the image reference) over plain HTTP, replacing an earlier list.
// For tests and labs only; by default there are none.
func WithInsecureRegistries(hosts ...string) Option {
	return func(c *Client) {
		c.insecure = map[string]bool{}
		for _, h := range hosts {
			c.insecure[h] = true
		}
	}
}

// WithRegistryCAs replaces the node's CA bundle as the roots registries' certificates
// are checked against.
func WithRegistryCAs(pool *x509.CertPool) Option { return func(c *Client) { c.registryCAs = pool } }

// Pull fetches ref's linux/amd64 image from its registry, checks it whole as Import
// checks an archive, then stores and unpacks it under ref's name (as written, so
// Image(ref) finds it). At most MaxImportBytes are fetched in all. A failed pull leaves
// no image record. Errors name the registry, the repository and the digest or HTTP
// status at fault.
func (c *Client) Pull(ctx context.Context, ref string) (Image, error) {
	r, err := parseRef(ref)
	if err != nil {
		return Image{}, fmt.Errorf("pull: %w", err)
	}
	unlock, waited, err := c.lockPull(ctx, ref)
	if err != nil {
		return Image{}, fmt.Errorf("pull %s: %w", ref, err)
	}
	defer unlock()
	if waited { // another pull of ref just ended: it may have stored the image
		if img, err := c.Image(ctx, ref); err == nil {
			return img, nil
		}
	}
	reg, err := c.registry(r)
	if err != nil {
		return Image{}, fmt.Errorf("pull %s: %w", ref, err)
	}
	defer reg.http.CloseIdleConnections()
	f, err := spoolFile(c.importDir, "pull-*.blobs")
	if err != nil {
		return Image{}, fmt.Errorf("pull %s: %w", ref, err)
	}
	defer f.Close()
	limit := c.pullLimit
	if limit <= 0 {
		limit = MaxImportBytes
	}
	p := &puller{reg: reg, a: &archive{file: f, blobs: map[digest.Digest]blobEntry{}}, limit: limit, left: limit}
	img, err := p.fetch(ctx)
	if err != nil {
		return Image{}, fmt.Errorf("pull %s: %w", ref, err)
	}
	img.name = ref
	p.a.images = []archiveImage{img}
	out, err := c.storeArchive(ctx, p.a, "pull")
	if err != nil {
		return Image{}, err
	}
	return out[0], nil
}

// lockPull lets one pull of ref run at a time, so that containers sharing an image fetch
// it once; waited says another pull held it first.
func (c *Client) lockPull(ctx context.Context, ref string) (unlock func(), waited bool, err error) {
	c.mu.Lock()
	if c.pulling == nil {
		c.pulling = map[string]chan struct{}{}
	}
	lock := c.pulling[ref]
	if lock == nil {
		lock = make(chan struct{}, 1)
		c.pulling[ref] = lock
	}
	c.mu.Unlock()
	select {
	case lock <- struct{}{}:
		return func() { <-lock }, false, nil
	default:
	}
	select {
	case lock <- struct{}{}:
		return func() { <-lock }, true, nil
	case <-ctx.Done():
		return nil, true, ctx.Err()
	}
}

// registry is one repository on one registry, over HTTP.
type registry struct {
	ref      imageRef
	base     string // https://host or, for an insecure host, http://host
	http     *http.Client
	insecure map[string]bool
	token    string // the bearer token, once a challenge was answered
}

func (c *Client) registry(r imageRef) (*registry, error) {
	pool := c.registryCAs
	if pool == nil {
		var err error
		if pool, err = x509.SystemCertPool(); err != nil {
			return nil, fmt.Errorf("the node's CA bundle: %w", err)
		}
	}
	tr := &http.Transport{
		// No proxy: machined has no proxy environment, and the config has no proxy yet.
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		IdleConnTimeout:       30 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	reg := &registry{ref: r, base: "https://" + r.endpoint(), insecure: c.insecure}
	if c.insecure[r.host] {
		reg.base = "http://" + r.endpoint()
	}
	// net/http drops the Authorization header on a redirect to another host, so a
	// registry's token never reaches the storage a blob is redirected to.
	reg.http = &http.Client{Transport: tr, CheckRedirect: reg.checkRedirect}
	return reg, nil
}

func (reg *registry) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return fmt.Errorf("%s: more than 10 redirects", reg.where())
	}
	if req.URL.Scheme != "https" && !reg.insecure[req.URL.Host] {
		return fmt.Errorf("%s: redirected to %s, which is not HTTPS", reg.where(), req.URL.Redacted())
	}
	return nil
}

// where names the registry and the repository in errors.
func (reg *registry) where() string {
	return fmt.Sprintf("registry %s: repository %s", reg.ref.host, reg.ref.repo)
}

// get sends GET base+path, answering one Bearer challenge. The caller closes the body
// of the 200 answer it returns; any other status is an error naming it and what.
func (reg *registry) get(ctx context.Context, path, what string, accept []string) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, reg.base+path, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", reg.where(), what, err)
		}
		for _, a := range accept {
			req.Header.Add("Accept", a)
		}
		if reg.token != "" {
			req.Header.Set("Authorization", "Bearer "+reg.token)
		}
		resp, err := reg.http.Do(req)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", reg.where(), what, err)
		}
		if resp.StatusCode == http.StatusOK {
			return resp, nil
		}
		drain(resp)
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 {
			if err := reg.authorize(ctx, resp.Header.Get("WWW-Authenticate")); err != nil {
				return nil, fmt.Errorf("%s: %s: %w", reg.where(), what, err)
			}
			continue
		}
		if resp.StatusCode == http.StatusUnauthorized {
			return nil, fmt.Errorf("%s: %s: HTTP %s with an anonymous token; the machine config holds no registry credentials", reg.where(), what, resp.Status)
		}
		if resp.StatusCode == http.StatusNotFound {
			return nil, fmt.Errorf("%s: %s: not found (HTTP %s)", reg.where(), what, resp.Status)
		}
		return nil, fmt.Errorf("%s: %s: HTTP %s", reg.where(), what, resp.Status)
	}
}

// drain reads a little of an unwanted body so the connection can be reused, and closes it.
func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) //nolint:errcheck // only for reuse
	resp.Body.Close()
}

// authorize answers a 401's challenge: Bearer gets an anonymous token from the realm
// (Docker's token authentication specification); anything else wants credentials.
func (reg *registry) authorize(ctx context.Context, header string) error {
	scheme, params, err := parseChallenge(header)
	if err != nil {
		return fmt.Errorf("HTTP 401 Unauthorized: %w", err)
	}
	if scheme != "bearer" || params["realm"] == "" {
		return fmt.Errorf("HTTP 401 Unauthorized: the registry wants %q authentication, and the machine config holds no registry credentials", header)
	}
	scope := params["scope"]
	if scope == "" {
		scope = "repository:" + reg.ref.repo + ":pull"
	}
	token, err := reg.fetchToken(ctx, params["realm"], params["service"], scope)
	if err != nil {
		return fmt.Errorf("HTTP 401 Unauthorized: token from %s: %w", params["realm"], err)
	}
	reg.token = token
	return nil
}

func (reg *registry) fetchToken(ctx context.Context, realm, service, scope string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, realm, nil)
	if err != nil {
		return "", err
	}
	if req.URL.Scheme != "https" && !reg.insecure[req.URL.Host] {
		return "", errors.New("the token realm is not HTTPS")
	}
	q := req.URL.Query()
	if service != "" {
		q.Set("service", service)
	}
	q.Set("scope", scope)
	req.URL.RawQuery = q.Encode()
	resp, err := reg.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %s (an anonymous pull was refused; the machine config holds no registry credentials)", resp.Status)
	}
	var tok struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenBody+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxTokenBody {
		return "", fmt.Errorf("answer larger than %d bytes", maxTokenBody)
	}
	if err := json.Unmarshal(b, &tok); err != nil {
		return "", fmt.Errorf("answer: %w", err)
	}
	if tok.Token == "" {
		tok.Token = tok.AccessToken
	}
	if tok.Token == "" {
		return "", errors.New("answer holds no token")
	}
	return tok.Token, nil
}

// puller fetches one image into a's spool file.
type puller struct {
	reg   *registry
	a     *archive
	end   int64 // where the next blob goes in the spool file
	limit int64 // bytes the pull may fetch in all
	left  int64 // of which still unused
}

// fetch resolves the reference to its linux/amd64 manifest, spools the manifest, its
// config and its layers, and checks them as an imported archive's.
func (p *puller) fetch(ctx context.Context) (archiveImage, error) {
	ref := p.reg.ref
	desc, body, err := p.manifest(ctx, ref.manifestRef(), ref.digest)
	if err != nil {
		return archiveImage{}, err
	}
	for depth := 0; desc.MediaType == ocispec.MediaTypeImageIndex || desc.MediaType == mediaDockerList; depth++ {
		if depth == maxIndexDepth {
			return archiveImage{}, fmt.Errorf("%s: index %s: indexes nested more than %d deep", p.reg.where(), desc.Digest, maxIndexDepth)
		}
		if desc, body, err = p.platformManifest(ctx, desc, body); err != nil {
			return archiveImage{}, err
		}
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return archiveImage{}, fmt.Errorf("%s: manifest %s: %w", p.reg.where(), desc.Digest, err)
	}
	if err := p.put(desc, body); err != nil {
		return archiveImage{}, err
	}
	if m.Config.Size > maxJSONBlob {
		return archiveImage{}, fmt.Errorf("%s: config %s is %d bytes, more than %d", p.reg.where(), m.Config.Digest, m.Config.Size, maxJSONBlob)
	}
	for _, b := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		if err := p.blob(ctx, b); err != nil {
			return archiveImage{}, err
		}
	}
	return p.a.resolve(desc, p.reg.where()+": manifest "+desc.Digest.String())
}

// platformManifest picks the linux/amd64 entry of the index in body and fetches it.
func (p *puller) platformManifest(ctx context.Context, desc ocispec.Descriptor, body []byte) (ocispec.Descriptor, []byte, error) {
	var idx ocispec.Index
	if err := json.Unmarshal(body, &idx); err != nil {
		return desc, nil, fmt.Errorf("%s: index %s: %w", p.reg.where(), desc.Digest, err)
	}
	all := make([]int, len(idx.Manifests))
	for i := range all {
		all[i] = i
	}
	i, err := platformEntry(idx.Manifests, all, fmt.Sprintf("%s: index %s", p.reg.where(), desc.Digest))
	if err != nil {
		return desc, nil, err
	}
	entry := idx.Manifests[i]
	if err := entry.Digest.Validate(); err != nil {
		return desc, nil, fmt.Errorf("%s: index %s: manifests[%d]: digest %q: %w", p.reg.where(), desc.Digest, i, entry.Digest, err)
	}
	if entry.Digest.Algorithm() != digest.SHA256 {
		return desc, nil, fmt.Errorf("%s: index %s: manifests[%d]: %s: only sha256 digests are supported", p.reg.where(), desc.Digest, i, entry.Digest)
	}
	got, b, err := p.manifest(ctx, entry.Digest.String(), entry.Digest)
	if err != nil {
		return desc, nil, err
	}
	if got.Size != entry.Size {
		return desc, nil, fmt.Errorf("%s: manifest %s is %d bytes, the index says %d", p.reg.where(), entry.Digest, got.Size, entry.Size)
	}
	return got, b, nil
}

// manifest fetches a manifest or index by tag or digest; with want set, its content must
// have that digest. Its media type is the answer's Content-Type, or the document's own
// mediaType field when the registry sends none of the types asked for.
func (p *puller) manifest(ctx context.Context, ref string, want digest.Digest) (ocispec.Descriptor, []byte, error) {
	what := "manifest " + ref
	resp, err := p.reg.get(ctx, "/v2/"+p.reg.ref.repo+"/manifests/"+ref, what, pullAccept)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	defer resp.Body.Close()
	if resp.ContentLength > maxJSONBlob {
		return ocispec.Descriptor{}, nil, fmt.Errorf("%s: %s: %d bytes, more than %d", p.reg.where(), what, resp.ContentLength, maxJSONBlob)
	}
	body, err := readSmall(resp.Body, p.reg.where()+": "+what)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	desc := ocispec.Descriptor{Digest: digest.FromBytes(body), Size: int64(len(body))}
	if want != "" && desc.Digest != want {
		return desc, nil, fmt.Errorf("%s: %s: content is %s", p.reg.where(), what, desc.Digest)
	}
	// The registry's digest header is checked when it is one this node can compute.
	if h, err := digest.Parse(resp.Header.Get("Docker-Content-Digest")); err == nil && h.Algorithm() == digest.SHA256 && h != desc.Digest {
		return desc, nil, fmt.Errorf("%s: %s: content is %s, the registry says %s", p.reg.where(), what, desc.Digest, h)
	}
	desc.MediaType, _, _ = mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if !acceptedManifest(desc.MediaType) {
		var doc struct {
			MediaType string `json:"mediaType"`
		}
		if json.Unmarshal(body, &doc) == nil && acceptedManifest(doc.MediaType) {
			desc.MediaType = doc.MediaType
		} else {
			return desc, nil, fmt.Errorf("%s: %s: media type %q (Content-Type %q) is not an OCI or Docker schema 2 manifest or index", p.reg.where(), what, doc.MediaType, resp.Header.Get("Content-Type"))
		}
	}
	return desc, body, nil
}

func acceptedManifest(mediaType string) bool {
	for _, t := range pullAccept {
		if mediaType == t {
			return true
		}
	}
	return false
}

// blob fetches one blob into the spool file, bounded by its descriptor's size and by
// what the pull may still fetch, and checks its digest as it streams.
func (p *puller) blob(ctx context.Context, desc ocispec.Descriptor) error {
	if err := desc.Digest.Validate(); err != nil {
		return fmt.Errorf("%s: manifest: digest %q: %w", p.reg.where(), desc.Digest, err)
	}
	if desc.Digest.Algorithm() != digest.SHA256 {
		return fmt.Errorf("%s: blob %s: only sha256 digests are supported", p.reg.where(), desc.Digest)
	}
	if _, have := p.a.blobs[desc.Digest]; have {
		return nil // a layer listed twice
	}
	if err := p.reserve(desc); err != nil {
		return err
	}
	what := "blob " + desc.Digest.String()
	resp, err := p.reg.get(ctx, "/v2/"+p.reg.ref.repo+"/blobs/"+desc.Digest.String(), what, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.ContentLength >= 0 && resp.ContentLength != desc.Size {
		return fmt.Errorf("%s: %s: %d bytes offered, the manifest says %d", p.reg.where(), what, resp.ContentLength, desc.Size)
	}
	return p.write(desc, resp.Body)
}

// reserve takes desc's size from what the pull may fetch.
func (p *puller) reserve(desc ocispec.Descriptor) error {
	if desc.Size < 0 || desc.Size > p.left {
		return fmt.Errorf("%s: blob %s: %d bytes; the image would exceed %d bytes", p.reg.where(), desc.Digest, desc.Size, p.limit)
	}
	p.left -= desc.Size
	return nil
}

// put spools a manifest already read.
func (p *puller) put(desc ocispec.Descriptor, body []byte) error {
	if err := p.reserve(desc); err != nil {
		return err
	}
	return p.write(desc, bytes.NewReader(body))
}

// write appends r (desc's content) to the spool file, hashing it on the way; more or
// fewer bytes than desc.Size, or another digest, is refused.
func (p *puller) write(desc ocispec.Descriptor, r io.Reader) error {
	h := digest.SHA256.Digester()
	w := io.NewOffsetWriter(p.a.file, p.end)
	n, err := io.Copy(io.MultiWriter(w, h.Hash()), io.LimitReader(r, desc.Size+1))
	if err != nil {
		return fmt.Errorf("%s: blob %s: %w", p.reg.where(), desc.Digest, err)
	}
	if n > desc.Size {
		return fmt.Errorf("%s: blob %s: more than the %d bytes the manifest says", p.reg.where(), desc.Digest, desc.Size)
	}
	if n < desc.Size {
		return fmt.Errorf("%s: blob %s: %d bytes received, the manifest says %d", p.reg.where(), desc.Digest, n, desc.Size)
	}
	if got := h.Digest(); got != desc.Digest {
		return fmt.Errorf("%s: blob %s: content is %s", p.reg.where(), desc.Digest, got)
	}
	p.a.blobs[desc.Digest] = blobEntry{name: p.reg.ref.host + "/" + p.reg.ref.repo + "@" + desc.Digest.String(), offset: p.end, size: n}
	p.end += n
	return nil
}
