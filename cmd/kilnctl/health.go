package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/machine"
)

// Verdicts of a health check. A skipped check does not fail the command.
const (
	verdictPass = "PASS"
	verdictFail = "FAIL"
	verdictSkip = "SKIP"
)

// healthCheck is one line of the checklist.
type healthCheck struct {
	Name    string `json:"name"`
	Verdict string `json:"verdict"`
	Reason  string `json:"reason"`
}

// errUnhealthy is returned when a check failed: exit 1, after the checklist.
var errUnhealthy = errors.New("unhealthy")

// healthProbe reads the node for the checks; the events are read once for the two
// checks that use them.
type healthProbe struct {
	ctx      context.Context
	api      machine.MachineServiceClient
	manifest string
	events   []*machine.Event
	eventErr error
}

func cmdHealth(e *env, args []string) error {
	fs := e.flagSet("health")
	manifest := fs.String("manifest", "", "the build's manifest.json, to compare PCR 11 with")
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	api, done, err := e.dial()
	if err != nil {
		return err
	}
	defer done()
	p := &healthProbe{ctx: e.ctx, api: api, manifest: *manifest}
	p.events, p.eventErr = p.readEvents()
	checks := []healthCheck{
		p.check("boot ready", p.bootReady),
		p.check("services healthy", p.servicesHealthy),
		p.check("time synced", p.timeSynced),
		p.check("STATE sealed", p.stateSealed),
		p.check("Secure Boot on", p.secureBoot),
		p.check("PCR 11 as the manifest's ready", p.pcr11),
		p.check("event log verified", p.eventLog),
	}
	if err := e.printHealth(checks); err != nil {
		return err
	}
	var failed []string
	for _, c := range checks {
		if c.Verdict == verdictFail {
			failed = append(failed, c.Name)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%w: %s failed", errUnhealthy, strings.Join(failed, ", "))
	}
	return nil
}

func (e *env) printHealth(checks []healthCheck) error {
	if e.structured() {
		data, err := json.Marshal(map[string]any{"checks": checks})
		if err != nil {
			return err
		}
		p := e.printer(false)
		if err := p.json(data); err != nil {
			return err
		}
		return p.close()
	}
	tw := e.table()
	fmt.Fprintln(tw, "CHECK\tRESULT\tREASON")
	for _, c := range checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, c.Verdict, c.Reason)
	}
	return tw.Flush()
}

// check runs one check; a check returns its verdict and reason, or an error (a failed
// read) that fails it with the error as the reason.
func (p *healthProbe) check(name string, run func() (string, string, error)) healthCheck {
	verdict, reason, err := run()
	if err != nil {
		verdict, reason = verdictFail, err.Error()
	}
	return healthCheck{Name: name, Verdict: verdict, Reason: reason}
}

// spec reads one resource's spec into v; found is false when the node has none.
func (p *healthProbe) spec(ns, typ, id string, v any) (found bool, err error) {
	res, err := p.api.ResourceGet(p.ctx, &machine.ResourceGetRequest{Namespace: ns, Type: typ, Id: id})
	if status.Code(err) == codes.NotFound {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s/%s/%s: %w", ns, typ, id, err)
	}
	if err := json.Unmarshal(res.GetSpecJson(), v); err != nil {
		return false, fmt.Errorf("%s/%s/%s: %w", ns, typ, id, err)
	}
	return true, nil
}

func (p *healthProbe) bootReady() (string, string, error) {
	var ms struct {
		Stage string `json:"stage"`
		Ready bool   `json:"ready"`
		Phase string `json:"phase"`
	}
	found, err := p.spec("runtime", "MachineStatus", "machine", &ms)
	switch {
	case err != nil:
		return "", "", err
	case !found:
		return verdictFail, "no runtime/MachineStatus yet: the node is early in its boot", nil
	case !ms.Ready:
		return verdictFail, fmt.Sprintf("not ready: stage %s, phase %s", ms.Stage, dash(ms.Phase)), nil
	}
	return verdictPass, "ready (stage " + ms.Stage + ")", nil
}

func (p *healthProbe) servicesHealthy() (string, string, error) {
	resp, err := p.api.ResourceList(p.ctx, &machine.ResourceListRequest{Namespace: "runtime", Type: "Service"})
	if err != nil {
		return "", "", fmt.Errorf("list runtime/Service: %w", err)
	}
	var healthy, sick []string
	for _, r := range resp.GetResources() {
		var svc struct {
			Name      string `json:"name"`
			State     string `json:"state"`
			Healthy   bool   `json:"healthy"`
			LastError string `json:"lastError"`
		}
		if err := json.Unmarshal(r.GetSpecJson(), &svc); err != nil {
			return "", "", fmt.Errorf("runtime/Service/%s: %w", r.GetMetadata().GetId(), err)
		}
		if svc.Healthy {
			healthy = append(healthy, svc.Name)
			continue
		}
		desc := svc.Name + " is " + svc.State
		if svc.LastError != "" {
			desc += " (" + svc.LastError + ")"
		}
		sick = append(sick, desc)
	}
	if len(sick) > 0 {
		slices.Sort(sick)
		return verdictFail, strings.Join(sick, "; "), nil
	}
	if len(healthy) == 0 {
		return verdictFail, "no services run", nil
	}
	slices.Sort(healthy)
	return verdictPass, strings.Join(healthy, ", "), nil
}

func (p *healthProbe) timeSynced() (string, string, error) {
	var ts timeStatus
	found, err := p.spec("network", "TimeStatus", "node", &ts)
	switch {
	case err != nil:
		return "", "", err
	case !found:
		return verdictFail, "no network/TimeStatus: time sync has not run", nil
	case ts.Disabled:
		return verdictSkip, "time sync is disabled in the machine config", nil
	case !ts.Synced:
		return verdictFail, "not synced: " + dash(ts.Error), nil
	}
	return verdictPass, fmt.Sprintf("synced with %s (offset %s)", ts.Server, dash(ts.Offset)), nil
}

// readEvents is every event of this boot the node keeps.
func (p *healthProbe) readEvents() ([]*machine.Event, error) {
	stream, err := p.api.Events(p.ctx, &machine.EventsRequest{TailEvents: -1})
	if err != nil {
		return nil, err
	}
	var all []*machine.Event
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return all, nil
		}
		if err != nil {
			return nil, err
		}
		all = append(all, ev)
	}
}

// lastEvent is the last event named name, nil if none.
func (p *healthProbe) lastEvent(name string) *machine.Event {
	for i := len(p.events) - 1; i >= 0; i-- {
		if p.events[i].GetName() == name && p.events[i].GetType() == "info" {
			return p.events[i]
		}
	}
	return nil
}

func (p *healthProbe) stateSealed() (string, string, error) {
	if p.eventErr != nil {
		return "", "", fmt.Errorf("read events: %w", p.eventErr)
	}
	ev := p.lastEvent("state")
	switch {
	case ev == nil:
		return verdictFail, "no state event in this boot: STATE was not opened", nil
	case ev.GetState() == "diskless":
		return verdictFail, "diskless: no STATE partition, the config does not persist", nil
	case ev.GetState() != "mounted":
		return verdictFail, "STATE " + ev.GetState() + ": " + dash(ev.GetError()), nil
	case ev.GetFields()["mode"] != "sealed":
		return verdictFail, fmt.Sprintf("STATE is %s, not sealed: %s", dash(ev.GetFields()["mode"]), dash(ev.GetFields()["warning"])), nil
	}
	return verdictPass, "sealed to the TPM (" + ev.GetFields()["device"] + ")", nil
}

func (p *healthProbe) secureBoot() (string, string, error) {
	var sb struct {
		SecureBoot bool   `json:"secureBoot"`
		SetupMode  bool   `json:"setupMode"`
		Source     string `json:"source"`
	}
	found, err := p.spec("runtime", "SecureBootStatus", "secureboot", &sb)
	switch {
	case err != nil:
		return "", "", err
	case !found:
		return verdictFail, "no runtime/SecureBootStatus", nil
	case sb.SetupMode:
		return verdictFail, "the firmware is in setup mode: no platform key is enrolled", nil
	case !sb.SecureBoot:
		return verdictFail, "Secure Boot is off (source " + sb.Source + ")", nil
	}
	return verdictPass, "on", nil
}

// manifestPCR11 is the part of the build's manifest.json the check reads: bank → phase →
// hex value.
type manifestPCR11 struct {
	PCR11 map[string]map[string]string `json:"pcr11"`
}

func (p *healthProbe) pcr11() (string, string, error) {
	if p.manifest == "" {
		return verdictSkip, "skipped: no manifest (pass --manifest _out/manifest.json)", nil
	}
	data, err := os.ReadFile(p.manifest)
	if err != nil {
		return "", "", fmt.Errorf("--manifest: %w", err)
	}
	var m manifestPCR11
	if err := json.Unmarshal(data, &m); err != nil {
		return "", "", fmt.Errorf("--manifest %s: %w", p.manifest, err)
	}
	var node struct {
		Values map[string]string `json:"values"`
	}
	found, err := p.spec("runtime", "PCR11", "ready", &node)
	if err != nil {
		return "", "", err
	}
	if !found {
		return verdictFail, "no runtime/PCR11/ready: the node has not extended ready (or has no TPM)", nil
	}
	var compared []string
	for _, bank := range []string{"sha256", "sha384"} {
		want, ok := m.PCR11[bank]["ready"]
		got, onNode := node.Values[bank]
		if !ok || !onNode {
			continue
		}
		if !strings.EqualFold(want, got) {
			return verdictFail, fmt.Sprintf("%s: the node has %s, the manifest predicts %s: this is not the image the manifest describes", bank, got, want), nil
		}
		compared = append(compared, bank)
	}
	if len(compared) == 0 {
		return verdictFail, fmt.Sprintf("no bank in common: %s has pcr11 banks %v, the node %v", p.manifest, keys(m.PCR11), keys(node.Values)), nil
	}
	return verdictPass, "equal in " + strings.Join(compared, ", "), nil
}

func (p *healthProbe) eventLog() (string, string, error) {
	if p.eventErr != nil {
		return "", "", fmt.Errorf("read events: %w", p.eventErr)
	}
	ev := p.lastEvent("eventlog")
	switch {
	case ev == nil:
		return verdictFail, "no eventlog event in this boot: the event log was not checked", nil
	case ev.GetState() != "verified":
		reason := "event log " + ev.GetState()
		if ev.GetError() != "" {
			reason += ": " + ev.GetError()
		}
		return verdictFail, reason, nil
	}
	return verdictPass, "replays to the TPM's PCRs", nil
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
