package containers

import (
	"strings"
	"testing"
)

func TestParseRef(t *testing.T) {
	const hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tt := range []struct {
		in                       string
		host, endpoint, repo     string
		tag, digest, manifestRef string
		err                      string
	}{
		{in: "nginx", host: "docker.io", endpoint: "registry-1.docker.io", repo: "library/nginx", tag: "latest", manifestRef: "latest"},
		{in: "nginx:1.25", host: "docker.io", endpoint: "registry-1.docker.io", repo: "library/nginx", tag: "1.25", manifestRef: "1.25"},
		{in: "grafana/loki:3", host: "docker.io", endpoint: "registry-1.docker.io", repo: "grafana/loki", tag: "3", manifestRef: "3"},
		{in: "docker.io/nginx", host: "docker.io", endpoint: "registry-1.docker.io", repo: "library/nginx", tag: "latest", manifestRef: "latest"},
		{in: "index.docker.io/library/nginx:1", host: "docker.io", endpoint: "registry-1.docker.io", repo: "library/nginx", tag: "1", manifestRef: "1"},
		{in: "ghcr.io/kiln-os/hello:v1", host: "ghcr.io", endpoint: "ghcr.io", repo: "kiln-os/hello", tag: "v1", manifestRef: "v1"},
		{in: "localhost/hello", host: "localhost", endpoint: "localhost", repo: "hello", tag: "latest", manifestRef: "latest"},
		{in: "localhost:5000/a/b/c:t_1", host: "localhost:5000", endpoint: "localhost:5000", repo: "a/b/c", tag: "t_1", manifestRef: "t_1"},
		{in: "10.0.0.1:5000/hello", host: "10.0.0.1:5000", endpoint: "10.0.0.1:5000", repo: "hello", tag: "latest", manifestRef: "latest"},
		{in: "[fd00::1]:5000/hello:2", host: "[fd00::1]:5000", endpoint: "[fd00::1]:5000", repo: "hello", tag: "2", manifestRef: "2"},
		{in: "Registry.Example/x", host: "Registry.Example", endpoint: "Registry.Example", repo: "x", tag: "latest", manifestRef: "latest"},
		{in: "kiln.test/hello@sha256:" + hex, host: "kiln.test", endpoint: "kiln.test", repo: "hello", digest: "sha256:" + hex, manifestRef: "sha256:" + hex},
		{in: "kiln.test/hello:1@sha256:" + hex, host: "kiln.test", endpoint: "kiln.test", repo: "hello", tag: "1", digest: "sha256:" + hex, manifestRef: "sha256:" + hex},
		{in: "my_app/a__b/c-d--e.f", host: "docker.io", endpoint: "registry-1.docker.io", repo: "my_app/a__b/c-d--e.f", tag: "latest", manifestRef: "latest"},
		// Invalid ones.
		{in: "", err: "no repository name"},
		{in: "Nginx", err: `repository component "Nginx"`},
		{in: "kiln.test/", err: "no repository name"},
		{in: "kiln.test//x", err: `repository component ""`},
		{in: "kiln.test/hello:", err: `tag ""`},
		{in: "kiln.test/hello:-x", err: `tag "-x"`},
		{in: "kiln.test/hello:" + strings.Repeat("t", 129), err: "tag"},
		{in: "kiln.test/hello@sha256:abc", err: "digest"},
		{in: "kiln.test/hello@sha512:" + hex + hex, err: "only sha256"},
		{in: "kiln.test/hello@sha256:" + strings.ToUpper(hex), err: "digest"},
		{in: "bad_host.test:x/hello", err: `registry host "bad_host.test:x"`},
		{in: "kiln.test/a b", err: `repository component "a b"`},
		{in: "kiln.test/-a", err: `repository component "-a"`},
		{in: "kiln.test/" + strings.Repeat("a", 250), err: "more than 255"},
	} {
		r, err := parseRef(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "image reference") {
				t.Errorf("parseRef(%q) = %+v, %v; want an error saying %q", tt.in, r, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseRef(%q): %v", tt.in, err)
			continue
		}
		if r.host != tt.host || r.endpoint() != tt.endpoint || r.repo != tt.repo || r.tag != tt.tag || r.digest.String() != tt.digest || r.manifestRef() != tt.manifestRef {
			t.Errorf("parseRef(%q) = %+v (endpoint %s, ref %s)", tt.in, r, r.endpoint(), r.manifestRef())
		}
		// The full form parses to the same reference.
		if again, err := parseRef(r.String()); err != nil || again != r {
			t.Errorf("parseRef(%q) = %+v, %v; want %+v", r.String(), again, err, r)
		}
	}
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"nginx", "localhost:5000/a/b:1", "kiln.test/x@sha256:" + strings.Repeat("a", 64), "[::1]:1/x", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseRef(s)
		if err != nil {
			return
		}
		if r.repo == "" || r.host == "" || (r.tag == "" && r.digest == "") {
			t.Fatalf("parseRef(%q) = %+v", s, r)
		}
		again, err := parseRef(r.String())
		if err != nil || again != r {
			t.Fatalf("parseRef(%q) = %+v; its full form %q parses to %+v, %v", s, r, r.String(), again, err)
		}
	})
}

func TestParseChallenge(t *testing.T) {
	for _, tt := range []struct {
		in     string
		scheme string
		params map[string]string
		err    bool
	}{
		{in: `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"`,
			scheme: "bearer", params: map[string]string{"realm": "https://auth.docker.io/token", "service": "registry.docker.io", "scope": "repository:library/nginx:pull"}},
		{in: `bearer Realm = "https://r/t" , Service=svc`, scheme: "bearer", params: map[string]string{"realm": "https://r/t", "service": "svc"}},
		{in: `Bearer realm="a\"b\\c"`, scheme: "bearer", params: map[string]string{"realm": `a"b\c`}},
		{in: `Basic realm="kiln"`, scheme: "basic", params: map[string]string{"realm": "kiln"}},
		{in: `Bearer realm="r", Basic realm="b"`, scheme: "bearer", params: map[string]string{"realm": "r"}},
		{in: `Bearer`, scheme: "bearer", params: map[string]string{}},
		{in: ``, err: true},
		{in: `Bearer realm="unterminated`, err: true},
		{in: `Bearer token68==`, err: true},
	} {
		scheme, params, err := parseChallenge(tt.in)
		if tt.err {
			if err == nil {
				t.Errorf("parseChallenge(%q) = %q %v, want an error", tt.in, scheme, params)
			}
			continue
		}
		if err != nil || scheme != tt.scheme || len(params) != len(tt.params) {
			t.Errorf("parseChallenge(%q) = %q %v, %v", tt.in, scheme, params, err)
			continue
		}
		for k, v := range tt.params {
			if params[k] != v {
				t.Errorf("parseChallenge(%q)[%s] = %q, want %q", tt.in, k, params[k], v)
			}
		}
	}
}

func FuzzParseChallenge(f *testing.F) {
	f.Add(`Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"`)
	f.Add(`Basic realm="a\"b"`)
	f.Fuzz(func(t *testing.T, s string) {
		scheme, params, err := parseChallenge(s)
		if err == nil && (scheme == "" || params == nil) {
			t.Fatalf("parseChallenge(%q) = %q %v", s, scheme, params)
		}
	})
}
