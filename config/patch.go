package config

import (
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// ApplyPatch applies one patch to the YAML document doc, telling the two kinds apart by
// shape as talosctl does: a list (a JSON array, or a YAML list) is an RFC 6902 JSON patch
// (ApplyJSONPatch), a mapping is a strategic merge patch (ApplyStrategicMerge). Like
// them, it neither decodes nor validates the result.
func ApplyPatch(doc, patch []byte) ([]byte, error) {
	tree, err := parseTree(patch, "patch")
	if err != nil {
		return nil, err
	}
	switch tree.Kind {
	case yaml.SequenceNode:
		return ApplyJSONPatch(doc, patch)
	case yaml.MappingNode:
		return ApplyStrategicMerge(doc, patch)
	}
	return nil, fmt.Errorf("patch: expected a list of RFC 6902 operations or a mapping to merge, got %q", tree.Value)
}

// Unredact puts back into c, from secrets, every secret field that Redact hid in c (one
// reading "(redacted)"), so that a config read through the API can be edited, patched and
// applied whole. secrets is a full config of the same cluster, e.g. the controlplane.yaml
// that kilnctl gen config wrote; only its secret fields are read. Unredact returns the
// paths it filled in; a redacted field that secrets leaves empty is an error naming it,
// and c is then partly filled. A secret field that does not read "(redacted)" (one the
// caller changed) is left as it is.
func Unredact(c, secrets *Config) ([]string, error) {
	u := unredacter{}
	u.walk(reflect.ValueOf(c).Elem(), reflect.ValueOf(secrets).Elem(), fieldClass{}, "")
	if len(u.missing) > 0 {
		return u.filled, fmt.Errorf("the config's secrets are redacted and the secrets file has none at %s", strings.Join(u.missing, ", "))
	}
	return u.filled, nil
}

type unredacter struct {
	filled, missing []string
}

// walk follows the redacted config c and the secrets' config s side by side.
func (u *unredacter) walk(c, s reflect.Value, class fieldClass, path string) {
	switch c.Kind() {
	case reflect.Struct:
		for i := range c.NumField() {
			f := c.Type().Field(i)
			u.walk(c.Field(i), s.Field(i), fieldClassOf(class, f), joinPath(path, yamlName(f)))
		}
	case reflect.Slice:
		for i := range c.Len() {
			item := reflect.Zero(c.Type().Elem())
			if i < s.Len() {
				item = s.Index(i)
			}
			u.walk(c.Index(i), item, class, fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.String:
		if !class.secret || c.String() != redacted {
			return
		}
		if s.String() == "" {
			u.missing = append(u.missing, path)
			return
		}
		c.SetString(s.String())
		u.filled = append(u.filled, path)
	}
}

// yamlName is the field's name in the document.
func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}
