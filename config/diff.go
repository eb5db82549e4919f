package config

import (
	"crypto/sha256"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Change is one field whose value differs between two configs.
type Change struct {
	// Path names the field as FieldError does: machine.network.interfaces[0].addresses[1],
	// machine.sysctls["net.ipv4.ip_forward"].
	Path string
	// Old and New are the value as YAML text ("" when the field is absent); a secret
	// field's value is "(redacted)".
	Old, New string
	// Reboot is true when the running node cannot apply the change (a reboot tag on the
	// field or any field above it).
	Reboot bool
}

// String is the change on one line: path: old → new, with (absent) for a missing value
// and [reboot] after a change the running node cannot apply.
func (c Change) String() string {
	line := fmt.Sprintf("%s: %s → %s", c.Path, shownValue(c.Old), shownValue(c.New))
	if c.Reboot {
		line += " [reboot]"
	}
	return line
}

// shownValue is a value as String shows it: (absent) for none, and a long value (a PEM
// certificate) cut to its start, its length and a SHA-256 prefix, so that two
// certificates, which begin alike, still read as different.
func shownValue(text string) string {
	const maxShown, prefixLen = 64, 40
	switch {
	case text == "":
		return "(absent)"
	case len(text) <= maxShown:
		return text
	}
	prefix := text[:prefixLen]
	for !utf8.ValidString(prefix) {
		prefix = prefix[:len(prefix)-1] // do not cut a character in two
	}
	sum := sha256.Sum256([]byte(text))
	return fmt.Sprintf("%s… (%d bytes, sha256 %x)", prefix, len(text), sum[:4])
}

// FormatChanges writes changes one per line, as Change.String does, each ended by a newline.
func FormatChanges(changes []Change) string {
	var b strings.Builder
	for _, c := range changes {
		b.WriteString(c.String() + "\n")
	}
	return b.String()
}

// NeedsReboot returns the paths of the changes that need a reboot, in their order.
func NeedsReboot(changes []Change) []string {
	var paths []string
	for _, c := range changes {
		if c.Reboot {
			paths = append(paths, c.Path)
		}
	}
	return paths
}

// RequireLive returns a *NeedsRebootError naming every change that needs a reboot, or
// nil when the running node can apply all of them.
func RequireLive(changes []Change) error {
	if paths := NeedsReboot(changes); len(paths) > 0 {
		return &NeedsRebootError{Paths: paths}
	}
	return nil
}

// Diff returns every field whose value differs between old and new, leaf by leaf, in
// document order (the order of the types, sorted map keys, lists by index). A nil old is
// no config yet: every field of new is a change from absent; a nil new removes every
// field. Reboot says how the field takes effect on a running node, whatever old is: the
// caller decides what a first config means.
//
// Lists are compared element by element, by index: an element inserted at the front shows
// as a change of every element after it. A zero value counts as absent, as Encode leaves
// it out; inside a list or a map an element is present even when it is empty. A struct
// element present on one side only is reported field by field, or at the element's own
// path ({}) when it has no field set.
func Diff(old, new *Config) []Change {
	var d differ
	d.value(configSide(old), configSide(new), "", fieldClass{})
	return d.changes
}

func configSide(c *Config) side {
	if c == nil {
		c = &Config{}
	}
	return side{v: reflect.ValueOf(c).Elem(), present: true}
}

// side is one side of a comparison: a value (the zero value when absent) and whether the
// document holds it.
type side struct {
	v       reflect.Value
	present bool
}

// differ walks two values of the same type side by side, collecting changes.
type differ struct {
	changes []Change
}

func (d *differ) value(a, b side, path string, class fieldClass) {
	switch a.v.Kind() {
	case reflect.Struct:
		d.structure(a, b, path, class)
	case reflect.Slice:
		d.list(a, b, path, class)
	case reflect.Map:
		d.mapping(a, b, path, class)
	default:
		d.leaf(a, b, path, class)
	}
}

// structure compares two structs field by field. A field is present when it is not
// empty, as Encode's omitempty decides.
func (d *differ) structure(a, b side, path string, class fieldClass) {
	t := a.v.Type()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		d.value(fieldSide(a.v.Field(i)), fieldSide(b.v.Field(i)), joinPath(path, name), fieldClassOf(class, t.Field(i)))
	}
}

func fieldSide(v reflect.Value) side {
	return side{v: v, present: !isEmpty(v)}
}

func (d *differ) list(a, b side, path string, class fieldClass) {
	for i := range max(a.v.Len(), b.v.Len()) {
		at := fmt.Sprintf("%s[%d]", path, i)
		before := len(d.changes)
		ea, eb := listElement(a.v, i), listElement(b.v, i)
		d.value(ea, eb, at, class)
		if len(d.changes) == before && ea.present != eb.present {
			// An element with nothing set, e.g. {}, still changes the document.
			d.changes = append(d.changes, Change{Path: at, Old: presence(ea), New: presence(eb), Reboot: class.reboot})
		}
	}
}

func listElement(list reflect.Value, i int) side {
	if i < list.Len() {
		return side{v: list.Index(i), present: true}
	}
	return side{v: reflect.Zero(list.Type().Elem())}
}

// presence is the text of an element that holds nothing but its presence.
func presence(s side) string {
	if !s.present {
		return ""
	}
	return "{}"
}

func (d *differ) mapping(a, b side, path string, class fieldClass) {
	keys := append(a.v.MapKeys(), b.v.MapKeys()...)
	names := make([]string, len(keys))
	for i, key := range keys {
		names[i] = key.String()
	}
	slices.Sort(names)
	for _, name := range slices.Compact(names) {
		key := reflect.ValueOf(name).Convert(a.v.Type().Key())
		d.value(mapEntry(a.v, key), mapEntry(b.v, key), mapEntryPath(path, name), class)
	}
}

func mapEntry(m, key reflect.Value) side {
	if v := m.MapIndex(key); v.IsValid() {
		return side{v: v, present: true}
	}
	return side{v: reflect.Zero(m.Type().Elem())}
}

// leaf compares two scalars by value, so that a changed secret shows as changed although
// both sides read (redacted).
func (d *differ) leaf(a, b side, path string, class fieldClass) {
	if a.present == b.present && a.v.Interface() == b.v.Interface() {
		return
	}
	d.changes = append(d.changes, Change{Path: path, Old: leafText(a, class), New: leafText(b, class), Reboot: class.reboot})
}

func leafText(s side, class fieldClass) string {
	switch {
	case !s.present:
		return ""
	case class.secret:
		return redacted
	}
	return scalarText(s.v)
}

// scalarText is a scalar as YAML text on one line: quoted where YAML would read it as
// another type (a string "1" is "1" with its quotes), newlines escaped.
func scalarText(v reflect.Value) string {
	n := valueNode(v)
	if strings.Contains(n.Value, "\n") {
		n.Style = yaml.DoubleQuotedStyle
	}
	text, err := yaml.Marshal(n)
	if err != nil {
		// The emitter refuses only what a decoded config cannot hold (invalid UTF-8).
		return fmt.Sprintf("%q", n.Value)
	}
	return strings.TrimSuffix(string(text), "\n")
}
