package configstate

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/internal/testpki"
)

func TestKSPPSysctlsCannotBeWeakened(t *testing.T) {
	cfg := testpki.ControlPlaneConfig(t)
	cfg.Machine.Sysctls = map[string]string{"kernel.kptr_restrict": "0", "net.ipv4.ip_forward": "1"}
	err := checkSysctls(cfg)
	var fe config.FieldErrors
	if !errors.As(err, &fe) || len(fe) != 1 || fe[0].Path != "machine.sysctls[kernel.kptr_restrict]" {
		t.Errorf("checkSysctls = %v", err)
	}
}

func TestFetchRetries(t *testing.T) {
	cfg := testpki.ControlPlaneConfig(t)
	data, err := config.Encode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var calls int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if calls == 1 {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		w.Write(data)
	}))
	defer srv.Close()
	log, _ := logtest.NewNullLogger()
	client := &http.Client{}
	got, err := fetch(context.Background(), client, pinnedURL(t, srv.URL+"/node.yaml", data), log)
	if err != nil || calls != 2 || string(got) != string(data) {
		t.Fatalf("fetch = %d bytes, %v after %d calls", len(got), err, calls)
	}
	if _, err := parseConfigURL("ftp://example/x"); err == nil || !strings.Contains(err.Error(), "http") {
		t.Errorf("ftp URL: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	dead := httptest.NewServer(http.NotFoundHandler())
	defer dead.Close()
	if _, err := fetch(ctx, client, pinnedURL(t, dead.URL, data), log); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("a config that never comes: %v", err)
	}
}

// An oversized config at the URL is refused at once, not retried for two minutes.
func TestFetchDoesNotRetryOversized(t *testing.T) {
	var calls int
	big := make([]byte, config.MaxSize+10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Write(big)
	}))
	defer srv.Close()
	log, _ := logtest.NewNullLogger()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := fetch(ctx, &http.Client{}, pinnedURL(t, srv.URL+"/node.yaml", big), log)
	if !errors.Is(err, config.ErrTooLarge) || calls != 1 {
		t.Errorf("oversized config: %v after %d calls, want config.ErrTooLarge after one", err, calls)
	}
}

// Find prefers STATE over fw_cfg, says where an invalid config came from, and reports
// ErrNoConfig when no source has one.
func TestFindOrder(t *testing.T) {
	state, fw := t.TempDir(), filepath.Join(t.TempDir(), "raw")
	src := Sources{StateDir: state, FwCfg: fw}
	if _, err := Find(context.Background(), src); !errors.Is(err, ErrNoConfig) {
		t.Fatalf("no source: %v", err)
	}
	data, _ := config.Encode(testpki.ControlPlaneConfig(t))
	os.WriteFile(fw, data, 0o600)
	if l, err := Find(context.Background(), src); err != nil || l.Source != resources.ConfigSourceFwCfg {
		t.Fatalf("fw_cfg: %+v, %v", l.Source, err)
	}
	if err := Persist(state, testpki.ControlPlaneConfig(t)); err != nil {
		t.Fatal(err)
	}
	if l, err := Find(context.Background(), src); err != nil || l.Source != resources.ConfigSourceState {
		t.Fatalf("STATE: %+v, %v", l.Source, err)
	}
	os.WriteFile(Path(state), []byte("version: v1alpha1\nmachine: {tpye: x}\n"), 0o600)
	if _, err := Find(context.Background(), src); err == nil || !strings.Contains(err.Error(), "STATE") {
		t.Errorf("invalid config on STATE: %v", err)
	}
}

// The config resource holds the whole config, secrets included: controllers need them.
func TestPublishHoldsTheWholeConfig(t *testing.T) {
	store := resources.New(resources.Config{})
	cfg := testpki.ControlPlaneConfig(t)
	var got []events.Event
	if err := Publish(context.Background(), store, func(e events.Event) { got = append(got, e) }, Loaded{Config: cfg, Data: []byte("x"), Source: "api"}); err != nil {
		t.Fatal(err)
	}
	cur := Current(store)
	if cur == nil || cur.Config.Machine.Token != cfg.Machine.Token || cur.Config.Machine.CA.Key != cfg.Machine.CA.Key || cur.Source != "api" {
		t.Fatalf("published %+v", cur)
	}
	if len(got) != 1 || got[0].Name != "config" || got[0].Fields["sha256"] != cur.SHA256 {
		t.Errorf("events %v", got)
	}
}
