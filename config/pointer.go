package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// pointer is a parsed JSON Pointer (RFC 6901): its unescaped reference tokens. The empty
// pointer ("") is the whole document.
type pointer []string

func parsePointer(text string) (pointer, error) {
	if text == "" {
		return pointer{}, nil
	}
	if !strings.HasPrefix(text, "/") {
		return nil, fmt.Errorf("JSON pointer %q must be empty or start with /", text)
	}
	tokens := strings.Split(text[1:], "/")
	for i, token := range tokens {
		if bad := strings.ReplaceAll(strings.ReplaceAll(token, "~0", ""), "~1", ""); strings.Contains(bad, "~") {
			return nil, fmt.Errorf("JSON pointer %q: ~ must be followed by 0 or 1", text)
		}
		// ~1 first, then ~0, so that "~01" becomes "~1" and not "/" (RFC 6901 section 4).
		tokens[i] = strings.ReplaceAll(strings.ReplaceAll(token, "~1", "/"), "~0", "~")
	}
	return tokens, nil
}

// isProperPrefixOf reports whether p names an ancestor of q.
func (p pointer) isProperPrefixOf(q pointer) bool {
	if len(p) >= len(q) {
		return false
	}
	for i := range p {
		if p[i] != q[i] {
			return false
		}
	}
	return true
}

var errNotFound = errors.New("path not found")

// resolve returns the node p names inside root.
func (p pointer) resolve(root *yaml.Node) (*yaml.Node, error) {
	n := root
	for _, token := range p {
		child, err := childOf(n, token)
		if err != nil {
			return nil, err
		}
		n = child
	}
	return n, nil
}

func childOf(n *yaml.Node, token string) (*yaml.Node, error) {
	switch n.Kind {
	case yaml.MappingNode:
		if i := mappingIndex(n, token); i >= 0 {
			return n.Content[i], nil
		}
		return nil, errNotFound
	case yaml.SequenceNode:
		i, err := arrayIndex(token, len(n.Content)-1)
		if err != nil {
			return nil, err
		}
		return n.Content[i], nil
	}
	return nil, fmt.Errorf("%w: %q is inside a scalar", errNotFound, token)
}

// arrayIndex parses an array index token (digits, no leading zeros) no greater than max.
func arrayIndex(token string, max int) (int, error) {
	if token == "" || (len(token) > 1 && token[0] == '0') || strings.Trim(token, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not an array index", token)
	}
	i, err := strconv.Atoi(token)
	if err != nil || i > max {
		return 0, fmt.Errorf("%w: index %s is out of range", errNotFound, token)
	}
	return i, nil
}
