package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// keyedLists names the lists whose items a strategic merge matches by a key instead of
// replacing the whole list; [] stands for any index.
var keyedLists = map[string]string{
	"machine.network.interfaces":          "interface",
	"machine.network.interfaces[].routes": "network",
}

// patchDirective is the key of the one directive a strategic merge patch may carry, as in
// Kubernetes: "$patch: delete" in an item of a keyed list removes the item of that key.
const patchDirective = "$patch"

// ApplyStrategicMerge merges the YAML patch into the YAML document doc: mappings merge
// key by key, recursively; a null value deletes its key; items of the keyed lists
// (machine.network.interfaces by interface, their routes by network) merge with the item of
// the same key or are appended, and an item holding "$patch: delete" removes the item of
// its key (nothing, when there is none); every other list, and every scalar, is replaced.
// The result is not decoded or validated: callers must run Decode and Validate on it.
func ApplyStrategicMerge(doc, patch []byte) ([]byte, error) {
	root, err := parseTree(doc, "document")
	if err != nil {
		return nil, err
	}
	overlay, err := parseTree(patch, "patch")
	if err != nil {
		return nil, err
	}
	if root.Kind != yaml.MappingNode || overlay.Kind != yaml.MappingNode {
		return nil, errors.New("strategic merge: document and patch must both be mappings")
	}
	if err := checkDirectives(overlay, "", "", false); err != nil {
		return nil, err
	}
	merged, err := merge(root, overlay, "")
	if err != nil {
		return nil, err
	}
	return encodeTree(merged)
}

// merge returns dst with src merged in; path is the field path with [] for list items.
func merge(dst, src *yaml.Node, path string) (*yaml.Node, error) {
	switch {
	case dst.Kind == yaml.MappingNode && src.Kind == yaml.MappingNode:
		return mergeMappings(dst, src, path)
	case dst.Kind == yaml.SequenceNode && src.Kind == yaml.SequenceNode && keyedLists[path] != "":
		return mergeKeyedList(dst, src, path, keyedLists[path])
	}
	return cloneValue(src), nil
}

func mergeMappings(dst, src *yaml.Node, path string) (*yaml.Node, error) {
	for i := 0; i+1 < len(src.Content); i += 2 {
		name, value := src.Content[i].Value, src.Content[i+1]
		at := mappingIndex(dst, name)
		switch {
		case isNull(value) && at >= 0:
			dst.Content = append(dst.Content[:at-1], dst.Content[at+1:]...)
		case isNull(value):
			// Deleting what is not there leaves nothing to do.
		case at >= 0:
			merged, err := merge(dst.Content[at], value, joinPath(path, name))
			if err != nil {
				return nil, err
			}
			dst.Content[at] = merged
		default:
			dst.Content = append(dst.Content, stringKey(name), cloneValue(value))
		}
	}
	return dst, nil
}

func mergeKeyedList(dst, src *yaml.Node, path, key string) (*yaml.Node, error) {
	for i, item := range src.Content {
		id, ok := itemKey(item, key)
		if !ok {
			return nil, fmt.Errorf("strategic merge: %s[%d]: every item needs %s (the list merges by it)", path, i, key)
		}
		match := -1
		for j, existing := range dst.Content {
			if existingID, ok := itemKey(existing, key); ok && existingID == id {
				match = j
			}
		}
		remove, err := deleteDirective(item, fmt.Sprintf("%s[%d]", path, i), key)
		if err != nil {
			return nil, err
		}
		switch {
		case remove && match >= 0:
			dst.Content = append(dst.Content[:match], dst.Content[match+1:]...)
			continue
		case remove:
			continue // deleting what is not there leaves nothing to do
		}
		if match < 0 {
			dst.Content = append(dst.Content, cloneValue(item))
			continue
		}
		merged, err := merge(dst.Content[match], item, path+"[]")
		if err != nil {
			return nil, err
		}
		dst.Content[match] = merged
	}
	return dst, nil
}

// itemKey returns the scalar under key in a mapping item.
func itemKey(item *yaml.Node, key string) (string, bool) {
	if item.Kind != yaml.MappingNode {
		return "", false
	}
	i := mappingIndex(item, key)
	if i < 0 || item.Content[i].Kind != yaml.ScalarNode || isNull(item.Content[i]) {
		return "", false
	}
	return item.Content[i].Value, true
}

// checkDirectives refuses a $patch anywhere but in an item of a keyed list, where
// mergeKeyedList reads it: elsewhere it would be merged in as a field. at is the path
// with list indexes, for the error; general has [] for them, as keyedLists does.
func checkDirectives(n *yaml.Node, at, general string, keyedItem bool) error {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			name := n.Content[i].Value
			if name == patchDirective && !keyedItem {
				return fmt.Errorf("strategic merge: %s: %s is allowed only in an item of a list that merges by key (%s)", joinPath(at, name), patchDirective, keyedListNames())
			}
			if err := checkDirectives(n.Content[i+1], joinPath(at, name), joinPath(general, name), false); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			if err := checkDirectives(item, fmt.Sprintf("%s[%d]", at, i), general+"[]", keyedLists[general] != ""); err != nil {
				return err
			}
		}
	}
	return nil
}

// deleteDirective reports whether a keyed list item is "{key: id, $patch: delete}". The
// directive deletes the whole item, so it stands beside the key alone.
func deleteDirective(item *yaml.Node, at, key string) (bool, error) {
	i := mappingIndex(item, patchDirective)
	if i < 0 {
		return false, nil
	}
	if v := item.Content[i]; v.Kind != yaml.ScalarNode || v.Value != "delete" {
		return false, fmt.Errorf("strategic merge: %s.%s: want delete, got %s", at, patchDirective, describeNode(v))
	}
	if len(item.Content) != 4 {
		return false, fmt.Errorf("strategic merge: %s: an item with %s: delete holds only %s and the directive", at, patchDirective, key)
	}
	return true, nil
}

// describeNode names a patch value in an error.
func describeNode(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return fmt.Sprintf("%q", n.Value)
	}
	return "a mapping or list"
}

// keyedListNames lists the keyed lists and their keys for an error, in a stable order.
func keyedListNames() string {
	names := make([]string, 0, len(keyedLists))
	for list, key := range keyedLists {
		names = append(names, list+" by "+key)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
