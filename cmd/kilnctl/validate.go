package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/kiln-os/kiln/config"
)

// errConfigInvalid is returned after validate printed the config's errors: exit 1.
var errConfigInvalid = errors.New("the machine config is invalid")

// cmdValidate checks a machine config offline with the rules the node applies
// (config.Decode, then Validate), printing every problem as FILE:LINE: PATH: reason.
func cmdValidate(e *env, args []string) error {
	fs := e.flagSet("validate")
	file := fs.String("f", "", "the machine config (\"-\" reads stdin)")
	fs.StringVar(file, "file", "", "the machine config")
	mode := fs.String("mode", "metal", "where the node runs: metal (bare metal or a VM)")
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	if *file == "" {
		return fmt.Errorf("%w: validate needs -f FILE", errUsage)
	}
	switch *mode {
	case "metal":
	case "container":
		return fmt.Errorf("%w: --mode container: Kiln boots only on metal and VMs (a signed UKI, a TPM); there is no container mode to validate for", errUsage)
	default:
		return fmt.Errorf("%w: --mode %q: want metal", errUsage, *mode)
	}
	data, err := e.readInput(*file)
	if err != nil {
		return err
	}
	problems := validateConfig(data)
	if len(problems) == 0 {
		fmt.Fprintf(e.stdout, "%s: valid for mode %s\n", *file, *mode)
		return nil
	}
	for _, p := range problems {
		fmt.Fprintf(e.stdout, "%s:%s\n", *file, p)
	}
	return fmt.Errorf("%w: %s has %d error(s)", errConfigInvalid, *file, len(problems))
}

// validateConfig returns every problem of data, each "LINE: PATH: reason" (or, for a
// document that is not one, the reason alone).
func validateConfig(data []byte) []string {
	cfg, err := config.Decode(data)
	if err == nil {
		err = cfg.Validate()
	}
	if err == nil {
		return nil
	}
	var fields config.FieldErrors
	if !errors.As(err, &fields) {
		return []string{" " + err.Error()}
	}
	var doc yaml.Node
	yaml.Unmarshal(data, &doc) // it decoded, so it parses
	var out []string
	for _, f := range fields {
		line := f.Line
		if line == 0 {
			line = lineOf(&doc, f.Path)
		}
		out = append(out, fmt.Sprintf("%d: %s: %s", line, dash(f.Path), f.Reason))
	}
	return out
}

// lineOf is the line of the field at path (as config writes paths:
// machine.network.interfaces[0].addresses[1], machine.sysctls["net.ipv4.ip_forward"]),
// or of the nearest enclosing field the document has: a missing field is reported where
// it belongs.
func lineOf(doc *yaml.Node, path string) int {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, seg := range pathSegments(path) {
		next, keyLine := child(n, seg)
		if next == nil {
			return line
		}
		n, line = next, keyLine
	}
	return line
}

// child is the node under seg (a key, or "[N]") and the line where it starts.
func child(n *yaml.Node, seg string) (*yaml.Node, int) {
	if i, ok := strings.CutPrefix(seg, "["); ok && n.Kind == yaml.SequenceNode {
		idx, err := strconv.Atoi(strings.TrimSuffix(i, "]"))
		if err != nil || idx < 0 || idx >= len(n.Content) {
			return nil, 0
		}
		return n.Content[idx], n.Content[idx].Line
	}
	if n.Kind != yaml.MappingNode {
		return nil, 0
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == seg {
			return n.Content[i+1], n.Content[i].Line
		}
	}
	return nil, 0
}

// pathSegments splits a config path into keys and "[N]" indexes; a quoted map key
// (["a.b"]) is one segment, unquoted.
func pathSegments(path string) []string {
	var segs []string
	for path != "" {
		switch {
		case strings.HasPrefix(path, `["`):
			key, rest, err := quotedPrefix(path[1:])
			if err != nil {
				return segs
			}
			segs = append(segs, key)
			path = strings.TrimPrefix(rest, "]")
		case strings.HasPrefix(path, "["):
			end := strings.IndexByte(path, ']')
			if end < 0 {
				return segs
			}
			segs = append(segs, path[:end+1])
			path = path[end+1:]
		case strings.HasPrefix(path, "."):
			path = path[1:]
		default:
			end := strings.IndexAny(path, ".[")
			if end < 0 {
				end = len(path)
			}
			segs = append(segs, path[:end])
			path = path[end:]
		}
	}
	return segs
}

// quotedPrefix unquotes the Go-quoted string at the start of s and returns the rest.
func quotedPrefix(s string) (string, string, error) {
	q, err := strconv.QuotedPrefix(s)
	if err != nil {
		return "", "", err
	}
	v, err := strconv.Unquote(q)
	return v, s[len(q):], err
}
