package configstate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/internal/testpki"
)

// configServer serves body at any path over plain http and counts the requests.
func configServer(t *testing.T, body []byte) (*httptest.Server, *int) {
	var calls int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func urlSources(t *testing.T, url string) Sources {
	log, _ := logtest.NewNullLogger()
	return Sources{StateDir: t.TempDir(), URL: url, Network: func(context.Context) error { return nil }, Log: log}
}

func encodedConfig(t *testing.T) []byte {
	data, err := config.Encode(testpki.ControlPlaneConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestConfigURLPlainHTTPRefused is hole 11a: kiln.config=http://… without a pin would
// fetch a config holding the CA keys in clear, from whoever answers. The boot stops before
// any request, and the error says what to do.
func TestConfigURLPlainHTTPRefused(t *testing.T) {
	srv, calls := configServer(t, encodedConfig(t))
	_, err := Find(context.Background(), urlSources(t, srv.URL+"/node.yaml"))
	if err == nil {
		t.Fatal("Find loaded a config from a plain http URL without a pin")
	}
	for _, want := range []string{URLParam, "https", "#sha256="} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if *calls != 0 {
		t.Errorf("%d requests went out before the refusal", *calls)
	}
}

// TestConfigURLPinMismatch: a body that is not the pinned one (a man in the middle, or a
// stale file) stops the boot.
func TestConfigURLPinMismatch(t *testing.T) {
	data := encodedConfig(t)
	srv, _ := configServer(t, data)
	other := sha256.Sum256(append(data, '\n'))
	_, err := Find(context.Background(), urlSources(t, srv.URL+"/node.yaml#sha256="+hex.EncodeToString(other[:])))
	if err == nil || !strings.Contains(err.Error(), hex.EncodeToString(other[:])) {
		t.Fatalf("pin mismatch: %v, want an error naming the pin", err)
	}
}

// TestConfigURLPinned: the pinned body loads over plain http, and the pin (a fragment) is
// not sent to the server.
func TestConfigURLPinned(t *testing.T) {
	data := encodedConfig(t)
	sum := sha256.Sum256(data)
	var sawFragment bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawFragment = strings.Contains(r.RequestURI, "sha256")
		w.Write(data)
	}))
	defer srv.Close()
	l, err := Find(context.Background(), urlSources(t, srv.URL+"/node.yaml#sha256="+strings.ToUpper(hex.EncodeToString(sum[:]))))
	if err != nil || string(l.Data) != string(data) {
		t.Fatalf("pinned URL: %v", err)
	}
	if sawFragment {
		t.Error("the pin went to the server")
	}
}

func TestConfigURLMalformedPins(t *testing.T) {
	for _, frag := range []string{"#sha256=", "#sha256=abc", "#sha256=" + strings.Repeat("g", 64), "#md5=" + strings.Repeat("0", 32), "#" + strings.Repeat("0", 64)} {
		_, err := Find(context.Background(), urlSources(t, "http://127.0.0.1:1/node.yaml"+frag))
		if err == nil || !strings.Contains(err.Error(), "#sha256=") {
			t.Errorf("%s: %v", frag, err)
		}
	}
}

// pinnedURL is the checked URL of raw pinned to body.
func pinnedURL(t *testing.T, raw string, body []byte) configURL {
	t.Helper()
	sum := sha256.Sum256(body)
	u, err := parseConfigURL(raw + "#sha256=" + hex.EncodeToString(sum[:]))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestConfigURLHTTPSNoDowngrade: an https config server (or whoever controls its
// redirects) cannot send the node to plain http, where the config would come in clear.
func TestConfigURLHTTPSNoDowngrade(t *testing.T) {
	plain, calls := configServer(t, encodedConfig(t))
	tlsSrv := httptest.NewTLSServer(http.RedirectHandler(plain.URL+"/node.yaml", http.StatusFound))
	defer tlsSrv.Close()
	u, err := parseConfigURL(tlsSrv.URL + "/node.yaml")
	if err != nil {
		t.Fatal(err)
	}
	log, _ := logtest.NewNullLogger()
	_, err = fetch(context.Background(), tlsSrv.Client(), u, log)
	if !errors.Is(err, ErrConfigURL) || !strings.Contains(err.Error(), "not https") {
		t.Fatalf("https → http redirect: %v", err)
	}
	if *calls != 0 {
		t.Errorf("the node followed the redirect to plain http")
	}
}

// An https URL with a pin checks both.
func TestConfigURLHTTPSWithPin(t *testing.T) {
	data := encodedConfig(t)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(data) }))
	defer srv.Close()
	log, _ := logtest.NewNullLogger()
	if got, err := fetch(context.Background(), srv.Client(), pinnedURL(t, srv.URL, data), log); err != nil || string(got) != string(data) {
		t.Fatalf("https with the right pin: %v", err)
	}
	if _, err := fetch(context.Background(), srv.Client(), pinnedURL(t, srv.URL, []byte("other")), log); !errors.Is(err, ErrConfigPin) {
		t.Fatalf("https with a wrong pin: %v", err)
	}
}
