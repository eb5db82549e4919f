package containers

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"
)

// Docker Hub's names: a reference without a registry host means docker.io, whose
// registry API answers at registry-1.docker.io, and a one-component name there lives
// under library/ (Docker's "official images").
const (
	dockerHub         = "docker.io"
	dockerHubEndpoint = "registry-1.docker.io"
	dockerHubLibrary  = "library/"
	defaultTag        = "latest"
)

// The grammar of a repository name and a tag (OCI distribution-spec v1.1, "Pulling
// manifests": <name> and <reference>); a registry host is DNS labels or an IPv6 literal
// in brackets, with an optional port.
var (
	nameComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$`)
	tagPattern    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
	hostPattern   = regexp.MustCompile(`^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$`)
)

// maxNameLength bounds host and repository together, as Docker's reference package does.
const maxNameLength = 255

// imageRef is a parsed image reference.
type imageRef struct {
	host   string        // the registry as written, or docker.io: localhost:5000, ghcr.io
	repo   string        // the repository on it: library/nginx, kiln/hello
	tag    string        // latest when neither a tag nor a digest was given
	digest digest.Digest // set for name@sha256:…; then the tag (if any) is not asked for
}

// parseRef parses an image reference: [host[:port]/]name[:tag][@sha256:hex]. The first
// component is a registry host when the name has more than one component and the first
// holds a dot or a colon or is "localhost"; otherwise the registry is docker.io.
func parseRef(s string) (imageRef, error) {
	var r imageRef
	name := s
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		name = s[:at]
		d, err := digest.Parse(s[at+1:])
		if err != nil {
			return r, fmt.Errorf("image reference %q: digest: %w", s, err)
		}
		if d.Algorithm() != digest.SHA256 {
			return r, fmt.Errorf("image reference %q: digest algorithm %s; only sha256 is supported", s, d.Algorithm())
		}
		r.digest = d
	}
	if slash, colon := strings.LastIndexByte(name, '/'), strings.LastIndexByte(name, ':'); colon > slash {
		r.tag = name[colon+1:]
		name = name[:colon]
		if !tagPattern.MatchString(r.tag) {
			return r, fmt.Errorf("image reference %q: tag %q: want letters, digits, '_', '.' and '-', at most 128, not starting with '.' or '-'", s, r.tag)
		}
	}
	if r.tag == "" && r.digest == "" {
		r.tag = defaultTag
	}
	r.host, r.repo = dockerHub, name
	if first, rest, ok := strings.Cut(name, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		if !hostPattern.MatchString(first) {
			return r, fmt.Errorf("image reference %q: registry host %q is not a host name or address with an optional port", s, first)
		}
		r.host, r.repo = first, rest
	}
	if r.host == "index.docker.io" {
		r.host = dockerHub
	}
	if r.repo == "" {
		return r, fmt.Errorf("image reference %q: no repository name", s)
	}
	if r.host == dockerHub && !strings.Contains(r.repo, "/") {
		r.repo = dockerHubLibrary + r.repo
	}
	for _, c := range strings.Split(r.repo, "/") {
		if !nameComponent.MatchString(c) {
			return r, fmt.Errorf("image reference %q: repository component %q: want lowercase letters and digits, separated by '.', '_', '__' or dashes", s, c)
		}
	}
	if n := len(r.host) + 1 + len(r.repo); n > maxNameLength {
		return r, fmt.Errorf("image reference %q: name is %d characters, more than %d", s, n, maxNameLength)
	}
	return r, nil
}

// endpoint is the host the registry API answers on.
func (r imageRef) endpoint() string {
	if r.host == dockerHub {
		return dockerHubEndpoint
	}
	return r.host
}

// manifestRef is what GET /v2/<name>/manifests/<reference> asks for: the digest when
// there is one, else the tag.
func (r imageRef) manifestRef() string {
	if r.digest != "" {
		return r.digest.String()
	}
	return r.tag
}

// String is the full reference: host/repo[:tag][@digest].
func (r imageRef) String() string {
	s := r.host + "/" + r.repo
	if r.tag != "" {
		s += ":" + r.tag
	}
	if r.digest != "" {
		s += "@" + r.digest.String()
	}
	return s
}
