package config

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/kiln-os/kiln/internal/atomicfile"
	"gopkg.in/yaml.v3"
)

// Encode writes c as YAML: keys in the order of the Go types, map keys sorted,
// two-space indentation, empty fields left out, PEM text as literal blocks. The same
// Config always gives the same bytes.
func Encode(c *Config) ([]byte, error) {
	return encodeTree(valueNode(reflect.ValueOf(c).Elem()))
}

// valueNode builds the YAML node of a config value. The tree is built here rather than by
// yaml.v3's Node.Encode, which goes through YAML text and so loses what its emitter
// loses (see scalarStyle).
func valueNode(v reflect.Value) *yaml.Node {
	switch v.Kind() {
	case reflect.Struct:
		return structNode(v)
	case reflect.Map:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		for _, key := range keys {
			n.Content = append(n.Content, valueNode(key), valueNode(v.MapIndex(key)))
		}
		return n
	case reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for i := range v.Len() {
			n.Content = append(n.Content, valueNode(v.Index(i)))
		}
		return n
	case reflect.String:
		n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v.String()}
		n.Style = scalarStyle(n)
		return n
	case reflect.Bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v.Bool())}
	case reflect.Int:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(v.Int(), 10)}
	case reflect.Uint32:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatUint(v.Uint(), 10)}
	}
	panic(fmt.Sprintf("config: no encoding for %s", v.Type()))
}

func structNode(v reflect.Value) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for i := range v.NumField() {
		name, options, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ",")
		field := v.Field(i)
		if options == "omitempty" && isEmpty(field) {
			continue
		}
		n.Content = append(n.Content, stringKey(name), valueNode(field))
	}
	return n
}

func isEmpty(v reflect.Value) bool {
	if v.Kind() == reflect.Slice || v.Kind() == reflect.Map {
		return v.Len() == 0
	}
	return v.IsZero()
}

// scalarStyle writes multi-line strings (PEM) as literal blocks, unless yaml.v3 cannot
// read such a block back unchanged (fuzzing found that a leading newline is lost): those
// are double-quoted.
func scalarStyle(n *yaml.Node) yaml.Style {
	if !strings.Contains(n.Value, "\n") {
		return 0 // the emitter quotes what would otherwise read as another type
	}
	literal := *n
	literal.Style = yaml.LiteralStyle
	text, err := yaml.Marshal(&yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{stringKey("k"), &literal}})
	var back map[string]string
	if err != nil || yaml.Unmarshal(text, &back) != nil || back["k"] != n.Value {
		return yaml.DoubleQuotedStyle
	}
	return yaml.LiteralStyle
}

// Load reads, decodes and validates the config at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Save validates c and replaces path with it atomically (write, fsync, rename), mode
// 0600 since the config holds keys. A config that fails Validate leaves path untouched.
func Save(path string, c *Config) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("config not saved: %w", err)
	}
	data, err := Encode(c)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, data, 0o600)
}
