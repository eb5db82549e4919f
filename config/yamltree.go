package config

import (
	"bytes"
	"fmt"
	"math"
	"math/big"
	"reflect"

	"gopkg.in/yaml.v3"
)

// Patches work on yaml.Node trees rather than on the Go types, so that a patch may touch
// any field (even one this version does not know, which Decode then reports), and so that
// the order of keys and the comments of the document survive.

// parseTree parses one YAML (or JSON) document without aliases; what names it ("document",
// "patch") goes into errors.
func parseTree(data []byte, what string) (*yaml.Node, error) {
	root, err := parseDocument(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if alias := findAlias(root); alias != nil {
		return nil, fmt.Errorf("%s: line %d: YAML aliases (*%s) are not allowed: write the value out", what, alias.Line, alias.Value)
	}
	return root, nil
}

func findAlias(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode {
		return n
	}
	for _, child := range n.Content {
		if alias := findAlias(child); alias != nil {
			return alias
		}
	}
	return nil
}

func encodeTree(root *yaml.Node) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// cloneValue deep-copies n for insertion into another document, dropping its layout
// (JSON's flow style and quotes) so the encoder writes it in the document's block style.
func cloneValue(n *yaml.Node) *yaml.Node {
	c := *n
	c.Style = 0
	c.Line, c.Column = 0, 0
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, child := range n.Content {
		c.Content[i] = cloneValue(child)
	}
	return &c
}

// mappingIndex returns the index in m.Content of the value under key, or -1.
func mappingIndex(m *yaml.Node, key string) int {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Kind == yaml.ScalarNode && m.Content[i].Value == key {
			return i + 1
		}
	}
	return -1
}

func stringKey(key string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// equalValues compares as JSON does (RFC 6902 section 4.6): mappings by members in any
// order, lists in order, numbers by value, other scalars by type and value.
func equalValues(a, b *yaml.Node) bool {
	if a.Kind != b.Kind {
		return false
	}
	switch a.Kind {
	case yaml.MappingNode:
		return equalMappings(a, b)
	case yaml.SequenceNode:
		if len(a.Content) != len(b.Content) {
			return false
		}
		for i := range a.Content {
			if !equalValues(a.Content[i], b.Content[i]) {
				return false
			}
		}
		return true
	}
	return equalScalars(a, b)
}

func equalMappings(a, b *yaml.Node) bool {
	if len(a.Content) != len(b.Content) {
		return false
	}
	for i := 0; i+1 < len(a.Content); i += 2 {
		j := mappingIndex(b, a.Content[i].Value)
		if j < 0 || !equalValues(a.Content[i+1], b.Content[j]) {
			return false
		}
	}
	return true
}

func equalScalars(a, b *yaml.Node) bool {
	numA, okA := number(a)
	numB, okB := number(b)
	if okA || okB {
		return okA && okB && numA.Cmp(numB) == 0
	}
	var valueA, valueB any
	if a.Decode(&valueA) != nil || b.Decode(&valueB) != nil {
		return a.ShortTag() == b.ShortTag() && a.Value == b.Value
	}
	return reflect.DeepEqual(valueA, valueB)
}

// number returns an !!int or !!float scalar's exact value.
func number(n *yaml.Node) (*big.Rat, bool) {
	switch n.ShortTag() {
	case "!!int":
		i, ok := new(big.Int).SetString(n.Value, 0)
		if !ok {
			return nil, false
		}
		return new(big.Rat).SetInt(i), true
	case "!!float":
		var f float64
		if n.Decode(&f) != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, false
		}
		return new(big.Rat).SetFloat64(f), true
	}
	return nil, false
}
