package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/kiln-os/kiln/client"
)

// localCommands never dial a node, and support takes several nodes itself (one bundle),
// so -n does not fan them out.
var localCommands = []string{"gen", "patch", "validate", "support"}

// singleNodeCommands talk to one node with the operator in the loop: one editor, one
// stdin.
var singleNodeCommands = []string{"edit"}

// nodesFlag finds the value of -n/--nodes among args (either spelling, "-n X" or "-n=X"),
// the way the flag package reads it. The last one wins, as with flag.
func nodesFlag(args []string) (value string, at int, found bool) {
	return flagValue(args, "n", "nodes")
}

// flagValue finds the value of the flag with one of names among args, as nodesFlag.
func flagValue(args []string, names ...string) (value string, at int, found bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		name, inline, hasInline := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || !slices.Contains(names, name) {
			continue
		}
		if hasInline {
			value, at, found = inline, i, true
			continue
		}
		if i+1 < len(args) {
			value, at, found = args[i+1], i, true
			i++
		}
	}
	return value, at, found
}

// splitNodes parses "a,b,c": no empty entry, no node twice.
func splitNodes(value string) ([]string, error) {
	nodes := strings.Split(value, ",")
	seen := map[string]bool{}
	for _, n := range nodes {
		n = strings.TrimSpace(n)
		switch {
		case n == "":
			return nil, fmt.Errorf("%w: -n %q has an empty node", errUsage, value)
		case seen[n]:
			return nil, fmt.Errorf("%w: -n %q names %s twice", errUsage, value, n)
		}
		seen[n] = true
	}
	for i := range nodes {
		nodes[i] = strings.TrimSpace(nodes[i])
	}
	return nodes, nil
}

// runOnNodes runs the command once per node of "-n a,b,c", at the same time (so that
// streams such as logs -f follow every node). Table output has each line prefixed by its
// node; -o json writes one object per node, {"node": …, "output": …}, and -o yaml one
// document per node with the same two keys, each when that node is done. It fails when
// any node fails, naming each, and a failing node does not hide the others' output.
// args are the whole command line; each node runs it with -n naming that node alone.
func runOnNodes(e *env, name string, args []string, nodes []string) error {
	if slices.Contains(singleNodeCommands, name) {
		return fmt.Errorf("%w: %s talks to one node at a time, got -n %s", errUsage, name, strings.Join(nodes, ","))
	}
	_, at, _ := nodesFlag(args)
	stdout, stderr := &lockedWriter{w: e.stdout}, &lockedWriter{w: e.stderr}
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, node := range nodes {
		nodeArgs := slices.Clone(args)
		if strings.Contains(nodeArgs[at], "=") {
			nodeArgs[at] = "-n=" + node
		} else {
			nodeArgs[at+1] = node
		}
		out, errOut := nodeOutput(stdout, node, args), newPrefixWriter(stderr, node)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer out.Flush()
			defer errOut.Flush()
			if err := run(e.ctx, nodeArgs, noStdin{}, out, errOut); err != nil {
				errs[i] = fmt.Errorf("%s: %w", node, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// lockedWriter lets several nodes' prefixWriters share one stream, a line at a time.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// prefixWriter writes whole lines, each as "NODE: line", so that lines of several nodes
// never mix. Flush writes a last line without its newline.
type prefixWriter struct {
	w      io.Writer
	prefix string
	buf    bytes.Buffer
}

func newPrefixWriter(w io.Writer, node string) *prefixWriter {
	return &prefixWriter{w: w, prefix: node + ": "}
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf.Write(b)
	for {
		line, err := p.buf.ReadBytes('\n')
		if err != nil { // no newline yet: keep the start of the line
			rest := slices.Clone(line)
			p.buf.Reset()
			p.buf.Write(rest)
			return len(b), nil
		}
		if _, err := p.w.Write(append([]byte(p.prefix), line...)); err != nil {
			return 0, err
		}
	}
}

// Flush writes what is left of an unterminated last line.
func (p *prefixWriter) Flush() {
	if p.buf.Len() > 0 {
		p.w.Write(append(append([]byte(p.prefix), p.buf.Bytes()...), '\n'))
		p.buf.Reset()
	}
}

// noStdin is the nodes' stdin: one stream cannot feed several commands.
type noStdin struct{}

func (noStdin) Read([]byte) (int, error) {
	return 0, errors.New("stdin cannot be read with several nodes (-n a,b): pass a file")
}

// flushWriter is a node's share of an output stream.
type flushWriter interface {
	io.Writer
	Flush()
}

// nodeOutput is the writer for one node's standard output in the format -o asks for.
func nodeOutput(w io.Writer, node string, args []string) flushWriter {
	switch format, _, _ := flagValue(args, "o"); format {
	case formatJSON, formatYAML:
		return &structuredWriter{w: w, node: node, format: format}
	}
	return newPrefixWriter(w, node)
}

// structuredWriter keeps a node's structured output and writes it, on Flush, as one
// object with the node beside it: a JSON line {"node", "output"} (output is the
// command's JSON value, a list of them for a stream, or its text when it is not JSON),
// or a YAML document with the same keys.
type structuredWriter struct {
	w      io.Writer
	node   string
	format string
	buf    bytes.Buffer
}

func (s *structuredWriter) Write(b []byte) (int, error) { return s.buf.Write(b) }

func (s *structuredWriter) Flush() {
	if s.format == formatYAML {
		var doc strings.Builder
		fmt.Fprintf(&doc, "---\nnode: %q\noutput:\n", s.node)
		for _, line := range strings.Split(strings.TrimRight(s.buf.String(), "\n"), "\n") {
			if line != "---" {
				doc.WriteString("  " + line + "\n")
			}
		}
		io.WriteString(s.w, doc.String())
		return
	}
	obj := struct {
		Node   string `json:"node"`
		Output any    `json:"output"`
	}{Node: s.node, Output: jsonValues(s.buf.Bytes())}
	line, err := json.Marshal(obj)
	if err != nil {
		line, _ = json.Marshal(struct{ Node, Output string }{s.node, s.buf.String()})
	}
	s.w.Write(append(line, '\n'))
}

// jsonValues is b as JSON: one value as it is, several (a stream) as a list, and text
// that is not JSON as a string.
func jsonValues(b []byte) any {
	dec := json.NewDecoder(bytes.NewReader(b))
	var values []json.RawMessage
	for {
		var v json.RawMessage
		if err := dec.Decode(&v); err == io.EOF {
			break
		} else if err != nil {
			return string(b)
		}
		values = append(values, v)
	}
	switch len(values) {
	case 0:
		return nil
	case 1:
		return values[0]
	}
	return values
}

// contextNodes are the nodes of the context args select (client.Context.Nodes), nil when
// it lists none or cannot be read (the command then reports the error itself). Global
// flags may follow the command, so args are searched for --kiln-config and --context.
func (e *env) contextNodes(args []string) []string {
	g := *e.g
	if v, _, ok := flagValue(args, "kiln-config"); ok {
		g.kilnConfig = v
	}
	if v, _, ok := flagValue(args, "context"); ok {
		g.context = v
	}
	path, err := (&env{g: &g}).configPath()
	if err != nil {
		return nil
	}
	cfg, err := client.LoadConfig(path)
	if err != nil {
		return nil
	}
	ctx, _, err := cfg.Current(g.context)
	if err != nil {
		return nil
	}
	return ctx.Nodes
}
