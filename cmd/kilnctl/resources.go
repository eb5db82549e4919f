package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/kiln-os/kiln/api/machine"
)

// resourceFlags are the flags of get, list and watch.
type resourceFlags struct {
	namespace string
	tail      int
}

func (e *env) resourceArgs(name string, args []string, maxArgs int) (resourceFlags, []string, error) {
	var rf resourceFlags
	fs := e.flagSet(name)
	fs.StringVar(&rf.namespace, "namespace", "", "resource namespace (default: the node's default for the type)")
	if name == "watch" {
		fs.IntVar(&rf.tail, "tail", 0, "past events to send first; -1 sends all kept")
	}
	pos, err := parseArgs(fs, args, 1, maxArgs)
	if err == nil {
		rf, pos[0] = qualifiedType(rf, pos[0])
	}
	return rf, pos, err
}

// qualifiedType reads NAMESPACE.TYPE (Talos's way of naming a type: etcd.Spec,
// k8s.KubeletSpec) as --namespace NAMESPACE and TYPE.
func qualifiedType(rf resourceFlags, typ string) (resourceFlags, string) {
	if ns, t, ok := strings.Cut(typ, "."); ok && rf.namespace == "" && ns != "" && t != "" {
		rf.namespace = ns
		return rf, t
	}
	return rf, typ
}

func cmdGet(e *env, args []string) error {
	rf, pos, err := e.resourceArgs("get", args, 2)
	if err != nil {
		return err
	}
	if len(pos) == 1 {
		return e.listResources(rf, pos[0])
	}
	api, done, err := e.dial()
	if err != nil {
		return err
	}
	defer done()
	res, err := api.ResourceGet(e.ctx, &machine.ResourceGetRequest{Namespace: rf.namespace, Type: pos[0], Id: pos[1]})
	if err != nil {
		return err
	}
	return e.printResources([]*machine.Resource{res}, false)
}

func cmdList(e *env, args []string) error {
	rf, pos, err := e.resourceArgs("list", args, 1)
	if err != nil {
		return err
	}
	return e.listResources(rf, pos[0])
}

func (e *env) listResources(rf resourceFlags, typ string) error {
	api, done, err := e.dial()
	if err != nil {
		return err
	}
	defer done()
	resp, err := api.ResourceList(e.ctx, &machine.ResourceListRequest{Namespace: rf.namespace, Type: typ})
	if err != nil {
		return err
	}
	return e.printResources(resp.GetResources(), true)
}

// printResources prints a table, or each resource as a document: one for get, a list
// for list.
func (e *env) printResources(resources []*machine.Resource, list bool) error {
	if !e.structured() {
		tw := e.table()
		fmt.Fprintln(tw, "NAMESPACE\tTYPE\tID\tVERSION\tOWNER\tUPDATED")
		for _, r := range resources {
			fmt.Fprintln(tw, resourceRow(r, "\t"))
		}
		return tw.Flush()
	}
	docs := make([]json.RawMessage, 0, len(resources))
	for _, r := range resources {
		doc, err := resourceDocument("", r)
		if err != nil {
			return err
		}
		docs = append(docs, doc)
	}
	p := e.printer(false)
	if err := printDocuments(p, docs, list); err != nil {
		return err
	}
	return p.close()
}

func printDocuments(p *printer, docs []json.RawMessage, list bool) error {
	if list {
		data, err := json.Marshal(docs)
		if err != nil {
			return err
		}
		return p.json(data)
	}
	for _, d := range docs {
		if err := p.json(d); err != nil {
			return err
		}
	}
	return nil
}

func resourceRow(r *machine.Resource, sep string) string {
	md := r.GetMetadata()
	updated := "-"
	if md.GetUpdated() != nil {
		updated = md.GetUpdated().AsTime().UTC().Format(time.RFC3339)
	}
	return fmt.Sprint(md.GetNamespace(), sep, md.GetType(), sep, md.GetId(), sep, md.GetVersion(), sep, md.GetOwner(), sep, updated)
}

// resourceDocument is {"event": ..., "metadata": {...}, "spec": {...}}: the spec inline as
// the JSON the node's Go type wrote (so YAML output shows it as YAML), not as base64 bytes.
func resourceDocument(event string, r *machine.Resource) (json.RawMessage, error) {
	md, err := protoJSON.Marshal(r.GetMetadata())
	if err != nil {
		return nil, err
	}
	doc := struct {
		Event    string          `json:"event,omitempty"`
		Metadata json.RawMessage `json:"metadata"`
		Spec     json.RawMessage `json:"spec"`
	}{Event: event, Metadata: md, Spec: specJSON(r.GetSpecJson())}
	return json.Marshal(doc)
}

// specJSON passes the node's JSON through, and shows anything else as a string rather than
// failing the whole listing on one bad spec.
func specJSON(raw []byte) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	if json.Valid(raw) {
		return raw
	}
	quoted, _ := json.Marshal(string(raw))
	return quoted
}

func cmdWatch(e *env, args []string) error {
	rf, pos, err := e.resourceArgs("watch", args, 2)
	if err != nil {
		return err
	}
	req := &machine.ResourceWatchRequest{Namespace: rf.namespace, Type: pos[0], TailEvents: int32(rf.tail)}
	if len(pos) == 2 {
		req.Id = &pos[1]
	}
	api, done, err := e.dial()
	if err != nil {
		return err
	}
	defer done()
	stream, err := api.ResourceWatch(e.ctx, req)
	if err != nil {
		return err
	}
	return e.printWatch(stream)
}

// watchFormat is a fixed-width row: a stream cannot wait for tabwriter.
const watchFormat = "%-12s %s\n"

func (e *env) printWatch(stream machine.MachineService_ResourceWatchClient) error {
	p := e.printer(true)
	defer p.close()
	if !e.structured() {
		fmt.Fprintf(e.stdout, watchFormat, "EVENT", "NAMESPACE TYPE ID VERSION OWNER UPDATED")
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			if e.streamEnded(err) {
				return p.close()
			}
			return err
		}
		if err := e.printWatchEvent(p, ev); err != nil {
			return err
		}
	}
}

func (e *env) printWatchEvent(p *printer, ev *machine.ResourceEvent) error {
	if !e.structured() {
		row := ""
		if ev.GetResource() != nil {
			row = resourceRow(ev.GetResource(), " ")
		}
		_, err := fmt.Fprintf(e.stdout, watchFormat, ev.GetType(), row)
		return err
	}
	doc, err := resourceDocument(ev.GetType().String(), ev.GetResource())
	if err != nil {
		return err
	}
	return p.json(doc)
}
