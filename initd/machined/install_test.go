package machined

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/resources"
)

// fetchImage takes the body of a 200 and nothing else: no redirect is followed, a wrong
// SHA-256 is refused naming both sums, and an error names the URL.
func TestFetchImage(t *testing.T) {
	body := []byte("MZ a UKI")
	sum := sha256.Sum256(body)
	mux := http.NewServeMux()
	mux.HandleFunc("/kiln.efi", func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/kiln.efi", http.StatusFound) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx := context.Background()

	if got, err := fetchImage(ctx, srv.URL+"/kiln.efi", strings.ToUpper(hex.EncodeToString(sum[:]))); err != nil || string(got) != string(body) {
		t.Fatalf("fetch with the right SHA-256: %q, %v", got, err)
	}
	if got, err := fetchImage(ctx, srv.URL+"/kiln.efi", ""); err != nil || string(got) != string(body) {
		t.Fatalf("fetch without a SHA-256: %q, %v", got, err)
	}
	for _, tc := range []struct{ path, sha, want string }{
		{"/kiln.efi", strings.Repeat("0", 64), "imageSha256 says " + strings.Repeat("0", 64)},
		{"/moved", "", "302 Found"},
		{"/missing", "", "404 Not Found"},
	} {
		if _, err := fetchImage(ctx, srv.URL+tc.path, tc.sha); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), srv.URL+tc.path) {
			t.Errorf("%s: %v, want an error naming the URL and %q", tc.path, err, tc.want)
		}
	}
}

// The boot server's URL comes from network/BootServerStatus; none means "".
func TestBootServerURL(t *testing.T) {
	store := resources.New(resources.Config{})
	if got := bootServerURL(store); got != "" {
		t.Errorf("no lease: %q", got)
	}
	spec := &resources.BootServerStatusSpec{Link: "eth0", URL: "http://10.213.0.1:80/kiln.efi"}
	if _, err := store.Set(context.Background(), resources.NamespaceNetwork, resources.TypeBootServerStatus, "eth0", "test", spec); err != nil {
		t.Fatal(err)
	}
	if got := bootServerURL(store); got != spec.URL {
		t.Errorf("bootServerURL = %q, want %q", got, spec.URL)
	}
}

func TestInstallWanted(t *testing.T) {
	for _, tc := range []struct {
		in   config.Install
		want bool
	}{
		{config.Install{}, false},
		{config.Install{Wipe: true}, false},
		{config.Install{Disk: "/dev/vda"}, true},
		{config.Install{DiskSelector: config.DiskSelector{Type: "nvme"}}, true},
	} {
		if got := installWanted(tc.in); got != tc.want {
			t.Errorf("%+v: %v", tc.in, got)
		}
	}
}
