package strictyaml

import (
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// Decode walks root into dst, a pointer to a struct, over what dst already holds: an
// absent key or a null keeps the field's value, so a caller may fill in defaults first. It
// returns every problem in document order, none when the document fits; the caller words
// them as its own errors (a list for the machine config, one place for kiln.yaml). A field
// type the decoder does not handle is a bug in the caller's types, not in the document,
// and panics.
func Decode(root *yaml.Node, dst any) []Problem {
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		panic(fmt.Sprintf("strictyaml: Decode into %T, want a pointer to a struct", dst))
	}
	var d decoder
	d.value(root, v.Elem(), "")
	return d.problems
}

// decoder walks a YAML node tree and a Go value side by side, collecting every mismatch.
type decoder struct {
	problems []Problem
}

func (d *decoder) add(line int, path, format string, args ...any) {
	d.problems = append(d.problems, Problem{Line: line, Path: path, Reason: fmt.Sprintf(format, args...)})
}

func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		d.add(n.Line, path, "YAML aliases (*%s) are not allowed: write the value out", n.Value)
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // null keeps the value, as an absent key would
	}
	switch v.Kind() {
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Map:
		d.mapping(n, v, path)
	case reflect.Slice:
		d.sequence(n, v, path)
	default:
		d.scalar(n, v, path, false)
	}
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	fields := yamlFields(v.Type())
	if n.Kind != yaml.MappingNode {
		d.add(n.Line, path, "expected a mapping (%s), got %s", strings.Join(fields.names, ", "), describe(n))
		return
	}
	firstLine := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		name, ok := d.key(key, firstLine, path, JoinPath)
		if !ok {
			continue
		}
		index, known := fields.index[name]
		if !known {
			d.add(key.Line, JoinPath(path, name), "unknown field (known: %s)", strings.Join(fields.names, ", "))
			d.problems[len(d.problems)-1].UnknownField = true
			continue
		}
		d.value(val, v.Field(index), JoinPath(path, name))
	}
}

// mapping decodes a map of strings; values may be any scalar (sysctls: {x: 1}).
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.add(n.Line, path, "expected a mapping, got %s", describe(n))
		return
	}
	if len(n.Content) == 0 {
		return // keep nil, so that an encoded and decoded value compares equal
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	firstLine := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		name, ok := d.key(key, firstLine, path, MapEntryPath)
		if !ok {
			continue
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		d.scalar(val, elem, MapEntryPath(path, name), true)
		m.SetMapIndex(reflect.ValueOf(name).Convert(v.Type().Key()), elem)
	}
	v.Set(m)
}

// key returns a mapping key's name, or false after reporting a bad or repeated key.
// at names the field or map entry the key stands for.
func (d *decoder) key(key *yaml.Node, firstLine map[string]int, path string, at func(string, string) string) (string, bool) {
	if key.Kind != yaml.ScalarNode || key.ShortTag() == "!!null" {
		d.add(key.Line, path, "mapping keys must be plain names, got %s", describe(key))
		return "", false
	}
	if line, dup := firstLine[key.Value]; dup {
		d.add(key.Line, at(path, key.Value), "duplicate key (first at line %d)", line)
		return "", false
	}
	firstLine[key.Value] = key.Line
	return key.Value, true
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.add(n.Line, path, "expected a list, got %s", describe(n))
		return
	}
	if len(n.Content) == 0 {
		return // keep nil, as for mappings
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.value(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(s)
}

// scalar decodes a string, bool or integer. Strings must be YAML strings (quote 1234 to
// mean text) unless anyScalar, where a number or bool is taken as written.
func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string, anyScalar bool) {
	switch n.Kind {
	case yaml.AliasNode:
		d.add(n.Line, path, "YAML aliases (*%s) are not allowed: write the value out", n.Value)
		return
	case yaml.MappingNode, yaml.SequenceNode:
		d.add(n.Line, path, "expected a %s, got %s", kindName(v.Kind()), describe(n))
		return
	}
	tag := n.ShortTag()
	switch {
	case v.Kind() == reflect.String:
		if tag == "!!str" || anyScalar && isPlainScalarTag(tag) {
			v.SetString(n.Value)
			return
		}
		if tag == "!!null" {
			return
		}
		d.add(n.Line, path, "cannot use %s as string: quote it", describe(n))
	case v.Kind() == reflect.Bool:
		d.decodeTagged(n, v, path, "!!bool")
	case v.CanInt() || v.CanUint():
		d.decodeTagged(n, v, path, "!!int")
	default:
		panic(fmt.Sprintf("strictyaml: no decoding for %s at %s", v.Type(), path))
	}
}

func (d *decoder) decodeTagged(n *yaml.Node, v reflect.Value, path, wantTag string) {
	if n.ShortTag() == "!!null" {
		return
	}
	if n.ShortTag() != wantTag {
		d.add(n.Line, path, "cannot use %s as %s", describe(n), kindName(v.Kind()))
		return
	}
	target := reflect.New(v.Type())
	if err := n.Decode(target.Interface()); err != nil {
		d.add(n.Line, path, "cannot use %s as %s: out of range", describe(n), kindName(v.Kind()))
		return
	}
	v.Set(target.Elem())
}

func isPlainScalarTag(tag string) bool {
	return tag == "!!str" || tag == "!!int" || tag == "!!float" || tag == "!!bool"
}

func kindName(k reflect.Kind) string {
	switch k {
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Struct, reflect.Map:
		return "mapping"
	case reflect.Slice:
		return "list"
	}
	return k.String()
}

// describe names a node for an error message: "yes" for a string, 1.5 for a number.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	value := n.Value
	if len(value) > 40 {
		value = value[:40] + "..."
	}
	if n.ShortTag() == "!!str" {
		return fmt.Sprintf("%q", value)
	}
	return value
}

// fieldSet is a struct type's fields by their YAML names, in declaration order.
type fieldSet struct {
	names []string
	index map[string]int
}

// yamlFields lists the fields of t that have a YAML name; a field tagged "-" or untagged
// is not part of the document.
func yamlFields(t reflect.Type) fieldSet {
	set := fieldSet{index: map[string]int{}}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		set.names = append(set.names, name)
		set.index[name] = i
	}
	return set
}
