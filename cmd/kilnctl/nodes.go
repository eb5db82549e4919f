package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
)

// localCommands never dial a node, so -n does not fan them out.
var localCommands = []string{"gen", "patch", "validate"}

// singleNodeCommands talk to one node with the operator in the loop: one editor, one
// stdin.
var singleNodeCommands = []string{"edit"}

// nodesFlag finds the value of -n/--nodes among args (either spelling, "-n X" or "-n=X"),
// the way the flag package reads it. The last one wins, as with flag.
func nodesFlag(args []string) (value string, at int, found bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		name, inline, hasInline := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || (name != "n" && name != "nodes") {
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
// streams such as logs -f follow every node), with each line of output prefixed by its
// node. It fails when any node fails, naming each.
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
		out, errOut := newPrefixWriter(stdout, node), newPrefixWriter(stderr, node)
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
