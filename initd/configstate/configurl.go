package configstate

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// The machine config carries the cluster's CA keys and join token, so the kiln.config= URL
// must give both secrecy and integrity: https does (the server is checked against the
// image's CA bundle), plain http does neither. A plain http URL is still allowed with a
// SHA-256 of the file in its fragment (http://host/node.yaml#sha256=<hex>): the fragment
// is never sent to the server (RFC 3986, section 3.5), and the command line holding it is
// inside the signed UKI, so the body cannot be swapped. Secrecy is then the lab network's
// business, which the operator chose by writing http.
var (
	// ErrConfigURL is wrapped by every refusal of a kiln.config= URL.
	ErrConfigURL = errors.New("config URL refused")
	// ErrConfigPin means the fetched body is not the one the URL pins.
	ErrConfigPin = errors.New("config does not match the URL's sha256 pin")
)

const pinPrefix = "sha256="

// configURL is a checked kiln.config= value.
type configURL struct {
	get    string // the URL to GET, without its fragment
	pin    []byte // the body's SHA-256, nil when the URL has no #sha256=
	secure bool   // https: the transport gives secrecy and integrity, and must keep them
}

func parseConfigURL(raw string) (configURL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return configURL{}, fmt.Errorf("%w: %s=%s: only http and https URLs with a host are supported", ErrConfigURL, URLParam, raw)
	}
	pin, err := parsePin(u)
	if err != nil {
		return configURL{}, fmt.Errorf("%w: %s=%s: %w", ErrConfigURL, URLParam, raw, err)
	}
	secure := u.Scheme == "https"
	if !secure && pin == nil {
		return configURL{}, fmt.Errorf("%w: %s=%s: plain http carries the config, CA keys included, in clear and unchecked; "+
			"serve it over https, or pin it with #sha256=<hex> (sha256sum of the file) at the end of the URL", ErrConfigURL, URLParam, raw)
	}
	u.Fragment, u.RawFragment = "", ""
	return configURL{get: u.String(), pin: pin, secure: secure}, nil
}

// parsePin reads the fragment: nothing, or sha256= and 64 hex digits.
func parsePin(u *url.URL) ([]byte, error) {
	if u.Fragment == "" {
		return nil, nil
	}
	digits, ok := strings.CutPrefix(u.Fragment, pinPrefix)
	pin, err := hex.DecodeString(digits)
	if !ok || err != nil || len(pin) != sha256.Size {
		return nil, fmt.Errorf("the fragment %q is not #sha256=<64 hex digits>", "#"+u.Fragment)
	}
	return pin, nil
}

// check compares a fetched body with the pin, if there is one.
func (c configURL) check(data []byte) error {
	if c.pin == nil {
		return nil
	}
	if sum := sha256.Sum256(data); !bytes.Equal(sum[:], c.pin) {
		return fmt.Errorf("%w: %s=%s#%s%x: got a body with SHA-256 %x; fix the pin on the command line or the file on the server",
			ErrConfigPin, URLParam, c.get, pinPrefix, c.pin, sum)
	}
	return nil
}

// guardRedirects returns a copy of client that, for an https URL, refuses a redirect to
// anything but https: Go's client follows https → http, which would bring the config
// back in clear from wherever the redirect points.
func (c configURL) guardRedirects(client *http.Client) *http.Client {
	guarded := *client
	guarded.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if c.secure && req.URL.Scheme != "https" {
			return fmt.Errorf("%w: %s redirects to %s, which is not https", ErrConfigURL, c.get, req.URL.Redacted())
		}
		if len(via) >= 10 { // net/http's own limit, which a CheckRedirect replaces
			return fmt.Errorf("%s: stopped after 10 redirects", c.get)
		}
		return nil
	}
	return &guarded
}
