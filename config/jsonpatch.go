package config

import (
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"
)

// ApplyJSONPatch applies an RFC 6902 JSON patch (a JSON or YAML list of operations add,
// remove, replace, move, copy and test, with RFC 6901 paths) to the YAML document doc and
// returns the patched YAML. The patch applies whole or not at all; an error names the
// operation's index and path. The result is not decoded or validated: callers must run
// Decode and Validate on it.
func ApplyJSONPatch(doc []byte, patch []byte) ([]byte, error) {
	root, err := parseTree(doc, "document")
	if err != nil {
		return nil, err
	}
	ops, err := parsePatch(patch)
	if err != nil {
		return nil, err
	}
	for i, op := range ops {
		if root, err = op.apply(root); err != nil {
			return nil, fmt.Errorf("patch operation %d (%s %s): %w", i, op.Op, op.Path, err)
		}
	}
	return encodeTree(root)
}

// patchOperation is one RFC 6902 operation. Value.Kind is 0 when "value" is absent.
type patchOperation struct {
	Op    string    `yaml:"op"`
	Path  string    `yaml:"path"`
	From  string    `yaml:"from"`
	Value yaml.Node `yaml:"value"`
}

func parsePatch(patch []byte) ([]patchOperation, error) {
	tree, err := parseTree(patch, "patch")
	if err != nil {
		return nil, err
	}
	if tree.Kind != yaml.SequenceNode {
		return nil, errors.New("patch: expected a list of operations ([{\"op\": \"add\", \"path\": ..., \"value\": ...}])")
	}
	ops := make([]patchOperation, len(tree.Content))
	for i, item := range tree.Content {
		// Members other than op, path, from and value are ignored (RFC 6902 section 4).
		if err := item.Decode(&ops[i]); err != nil {
			return nil, fmt.Errorf("patch operation %d: %w", i, err)
		}
	}
	return ops, nil
}

// apply runs the operation on root and returns the new root (add and replace at "" swap
// the whole document).
func (op *patchOperation) apply(root *yaml.Node) (*yaml.Node, error) {
	path, err := parsePointer(op.Path)
	if err != nil {
		return nil, err
	}
	switch op.Op {
	case "add":
		return op.withValue(func(value *yaml.Node) (*yaml.Node, error) { return add(root, path, value) })
	case "replace":
		return op.withValue(func(value *yaml.Node) (*yaml.Node, error) { return replace(root, path, value) })
	case "test":
		return op.withValue(func(value *yaml.Node) (*yaml.Node, error) { return root, test(root, path, value) })
	case "remove":
		_, err := remove(root, path)
		return root, err
	case "move", "copy":
		from, err := parsePointer(op.From)
		if err != nil {
			return nil, fmt.Errorf("from: %w", err)
		}
		if op.Op == "move" {
			return move(root, from, path)
		}
		return copyValue(root, from, path)
	}
	return nil, fmt.Errorf("unknown op %q: use add, remove, replace, move, copy or test", op.Op)
}

func (op *patchOperation) withValue(f func(*yaml.Node) (*yaml.Node, error)) (*yaml.Node, error) {
	if op.Value.Kind == 0 {
		return nil, errors.New(`"value" is missing`)
	}
	return f(cloneValue(&op.Value))
}

func add(root *yaml.Node, path pointer, value *yaml.Node) (*yaml.Node, error) {
	if len(path) == 0 {
		return value, nil
	}
	parent, err := path[:len(path)-1].resolve(root)
	if err != nil {
		return nil, err
	}
	last := path[len(path)-1]
	switch parent.Kind {
	case yaml.MappingNode:
		if i := mappingIndex(parent, last); i >= 0 {
			parent.Content[i] = value
		} else {
			parent.Content = append(parent.Content, stringKey(last), value)
		}
	case yaml.SequenceNode:
		i := len(parent.Content)
		if last != "-" {
			if i, err = arrayIndex(last, len(parent.Content)); err != nil {
				return nil, err
			}
		}
		parent.Content = append(parent.Content[:i], append([]*yaml.Node{value}, parent.Content[i:]...)...)
	default:
		return nil, fmt.Errorf("%w: the parent is a scalar", errNotFound)
	}
	return root, nil
}

// remove deletes what path names and returns it.
func remove(root *yaml.Node, path pointer) (*yaml.Node, error) {
	if len(path) == 0 {
		return nil, errors.New("cannot remove the whole document")
	}
	parent, err := path[:len(path)-1].resolve(root)
	if err != nil {
		return nil, err
	}
	last := path[len(path)-1]
	removed, err := childOf(parent, last)
	if err != nil {
		return nil, err
	}
	if parent.Kind == yaml.MappingNode {
		i := mappingIndex(parent, last)
		parent.Content = append(parent.Content[:i-1], parent.Content[i+1:]...)
	} else {
		i, _ := arrayIndex(last, len(parent.Content)-1)
		parent.Content = append(parent.Content[:i], parent.Content[i+1:]...)
	}
	return removed, nil
}

// replace swaps the value path names in place, keeping its position among its siblings.
func replace(root *yaml.Node, path pointer, value *yaml.Node) (*yaml.Node, error) {
	if len(path) == 0 {
		return value, nil
	}
	parent, err := path[:len(path)-1].resolve(root)
	if err != nil {
		return nil, err
	}
	last := path[len(path)-1]
	if _, err := childOf(parent, last); err != nil {
		return nil, err
	}
	if parent.Kind == yaml.MappingNode {
		parent.Content[mappingIndex(parent, last)] = value
	} else {
		i, _ := arrayIndex(last, len(parent.Content)-1)
		parent.Content[i] = value
	}
	return root, nil
}

func move(root *yaml.Node, from, path pointer) (*yaml.Node, error) {
	if from.isProperPrefixOf(path) {
		return nil, errors.New("cannot move a value into itself")
	}
	value, err := remove(root, from)
	if err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	return add(root, path, value)
}

func copyValue(root *yaml.Node, from, path pointer) (*yaml.Node, error) {
	value, err := from.resolve(root)
	if err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	return add(root, path, cloneValue(value))
}

func test(root *yaml.Node, path pointer, want *yaml.Node) error {
	got, err := path.resolve(root)
	if err != nil {
		return err
	}
	if !equalValues(got, want) {
		return errors.New("test failed: the value differs")
	}
	return nil
}
