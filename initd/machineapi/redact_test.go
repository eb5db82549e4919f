package machineapi

import (
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/eventsink"
	"github.com/kiln-os/kiln/initd/logbuf"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/internal/testpki"
)

// secretStore is a store holding a control plane config, as LoadConfig publishes it.
func secretStore(t *testing.T) (*resources.Store, *config.Config) {
	t.Helper()
	cfg := testpki.ControlPlaneConfig(t)
	store := resources.New(resources.Config{})
	_, err := store.Set(context.Background(), resources.NamespaceConfig, resources.TypeMachineConfig, resources.MachineConfigID, "machined",
		&resources.MachineConfigSpec{Config: cfg, SHA256: "x", Source: "api"})
	if err != nil {
		t.Fatal(err)
	}
	return store, cfg
}

// leaks names the secrets of cfg that text contains.
func leaks(cfg *config.Config, text string) []string {
	var found []string
	for name, secret := range map[string]string{"token": cfg.Machine.Token, "os key": cfg.Machine.CA.Key, "k8s key": cfg.Cluster.CA.Key} {
		if strings.Contains(text, secret) {
			found = append(found, name)
		}
		for _, line := range strings.Split(secret, "\n") {
			if len(line) >= minSecretLine && !strings.HasPrefix(line, "-----") && strings.Contains(text, line) {
				found = append(found, name+" line")
			}
		}
	}
	if strings.Contains(text, "PRIVATE KEY-----\nM") {
		found = append(found, "a PEM body")
	}
	return found
}

func TestResourcesAreRedacted(t *testing.T) {
	store, cfg := secretStore(t)
	c := start(t, &Server{Resources: store})
	ctx := context.Background()
	got, err := c.ResourceGet(ctx, &machine.ResourceGetRequest{Type: "machineconfig", Id: resources.MachineConfigID})
	if err != nil {
		t.Fatal(err)
	}
	if l := leaks(cfg, string(got.SpecJson)); len(l) > 0 || !strings.Contains(string(got.SpecJson), cfg.Machine.CA.Crt[28:60]) {
		t.Errorf("get leaks %v (or lost the certificate):\n%s", l, got.SpecJson)
	}
	list, err := c.ResourceList(ctx, &machine.ResourceListRequest{Type: "machineconfig"})
	if err != nil || len(list.Resources) != 1 {
		t.Fatal(list, err)
	}
	if l := leaks(cfg, string(list.Resources[0].SpecJson)); len(l) > 0 {
		t.Errorf("list leaks %v", l)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	w, err := c.ResourceWatch(wctx, &machine.ResourceWatchRequest{Type: "machineconfig"})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := w.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if l := leaks(cfg, string(ev.Resource.SpecJson)); len(l) > 0 {
		t.Errorf("watch leaks %v", l)
	}
	var spec resources.MachineConfigSpec
	if err := json.Unmarshal(ev.Resource.SpecJson, &spec); err != nil || spec.Config.Machine.Token != redacted {
		t.Errorf("token shows as %q, want %q (%v)", spec.Config.Machine.Token, redacted, err)
	}
	if cur, _ := store.Get(resources.NamespaceConfig, resources.TypeMachineConfig, resources.MachineConfigID); cur.Spec.(*resources.MachineConfigSpec).Config.Machine.Token != cfg.Machine.Token {
		t.Error("redaction changed the stored config")
	}
}

func TestEventsAndLogsAreRedacted(t *testing.T) {
	store, cfg := secretStore(t)
	keyLine := strings.Split(cfg.Machine.CA.Key, "\n")[1]
	sink := eventsink.New(nil, nil)
	sink.Emit(events.Event{Type: events.TypeInfo, Name: "leak", Error: "token " + cfg.Machine.Token, Fields: map[string]string{"key": keyLine}})
	set := logbuf.NewSet(nil)
	set.Get("machined").Write([]byte("joined with " + cfg.Machine.Token + "\n" + keyLine + "\n"))
	c := start(t, &Server{Resources: store, EventSink: sink, LogSet: set})
	ctx := context.Background()
	es, err := c.Events(ctx, &machine.EventsRequest{TailEvents: -1})
	if err != nil {
		t.Fatal(err)
	}
	e, err := es.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if l := leaks(cfg, e.Error+e.Fields["key"]); len(l) > 0 || !strings.Contains(e.Error, redacted) {
		t.Errorf("event leaks %v: %v", l, e)
	}
	ls, err := c.Logs(ctx, &machine.LogsRequest{Service: "machined", TailLines: 10})
	if err != nil {
		t.Fatal(err)
	}
	var text string
	for {
		l, err := ls.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		text += l.Line + "\n"
	}
	if l := leaks(cfg, text); len(l) > 0 || !strings.Contains(text, "joined with "+redacted) {
		t.Errorf("logs leak %v:\n%s", l, text)
	}
}

// A container's environment is secret: a long value is hidden in its log like the token,
// a short one ("8080") is not, or every log line with that number would lose it.
func TestContainerEnvInText(t *testing.T) {
	cfg := testpki.ControlPlaneConfig(t)
	cfg.Machine.Containers = []config.Container{{Name: "db", Image: "db:1", Env: map[string]string{"PASSWORD": "correct-horse-battery", "PORT": "8080"}}}
	secrets := secretsOf(cfg)
	if !slices.Contains(secrets, "correct-horse-battery") {
		t.Errorf("secrets %q lack the long env value", secrets)
	}
	if slices.Contains(secrets, "8080") {
		t.Errorf("secrets %q hold the short env value 8080", secrets)
	}
}
