package config

import (
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"
)

// keyedLists names the lists whose items a strategic merge matches by a key instead of
// replacing the whole list; [] stands for any index.
var keyedLists = map[string]string{
	"machine.network.interfaces":          "interface",
	"machine.network.interfaces[].routes": "network",
}

// ApplyStrategicMerge merges the YAML patch into the YAML document doc: mappings merge
// key by key, recursively; a null value deletes its key; items of the keyed lists
// (machine.network.interfaces by interface, their routes by network) merge with the item of
// the same key or are appended; every other list, and every scalar, is replaced. To remove
// a list item, use ApplyJSONPatch. The result is not decoded or validated: callers must
// run Decode and Validate on it.
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
