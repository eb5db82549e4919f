package machineapi

import (
	"reflect"
	"strings"
	"sync"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/resources"
)

// Redaction happens here and nowhere else on the node: the config resource holds the
// whole config, keys and join token included, because controllers need them; every path
// by which the API hands something out (resources, events, logs, the apply diff) passes
// through this file first. Every API role may read resources.

// redacted replaces a secret in anything the API sends.
const redacted = "(redacted)"

// minSecretLine is the shortest line of a secret that is hidden on its own: a log line
// may carry one line of a PEM block, but "-----END-----" or a short word is no secret.
const minSecretLine = 16

// minSecretText is the shortest whole secret value hidden in free text (logs, events,
// errors). The structured views (resources, the apply diff) hide every secret; but a
// container's environment value such as "8080" or "1" cannot be cut out of every log
// line without destroying the logs, and so short a value is no credential.
const minSecretText = 8

// redactConfig is the config as a reader may see it; config.Redact decides which fields
// are secret (the kiln:"secret" tags beside the config types).
var redactConfig = config.Redact

// redactSpec returns spec with secrets replaced; specs without secrets come back as they are.
func redactSpec(spec any) any {
	mc, ok := spec.(*resources.MachineConfigSpec)
	if !ok || mc.Config == nil {
		return spec
	}
	out := *mc
	out.Config = redactConfig(mc.Config)
	return &out
}

// secretsOf lists the secret strings of cfg: the values that redaction changes, and each
// long enough line of them.
func secretsOf(cfg *config.Config) []string {
	var whole []string
	changedStrings(reflect.ValueOf(cfg).Elem(), reflect.ValueOf(redactConfig(cfg)).Elem(), &whole)
	var out []string
	for _, s := range whole {
		if len(s) >= minSecretText {
			out = append(out, s)
		}
		for _, line := range strings.Split(s, "\n") {
			if line = strings.TrimSpace(line); len(line) >= minSecretLine && line != s {
				out = append(out, line)
			}
		}
	}
	return out
}

// changedStrings appends the strings of a that differ in b, a and b being the same type.
func changedStrings(a, b reflect.Value, out *[]string) {
	switch a.Kind() {
	case reflect.String:
		if a.String() != b.String() && a.String() != "" {
			*out = append(*out, a.String())
		}
	case reflect.Struct:
		for i := range a.NumField() {
			changedStrings(a.Field(i), b.Field(i), out)
		}
	case reflect.Slice, reflect.Array:
		for i := range min(a.Len(), b.Len()) {
			changedStrings(a.Index(i), b.Index(i), out)
		}
	case reflect.Map:
		for _, k := range a.MapKeys() {
			if bv := b.MapIndex(k); bv.IsValid() {
				changedStrings(a.MapIndex(k), bv, out)
			}
		}
	case reflect.Pointer, reflect.Interface:
		if !a.IsNil() && !b.IsNil() {
			changedStrings(a.Elem(), b.Elem(), out)
		}
	}
}

// textRedactor hides the current config's secrets in free text (log lines, event
// fields, errors). It rebuilds its replacer only when the config resource changes.
type textRedactor struct {
	mu       sync.Mutex
	version  uint64
	replacer *strings.Replacer
}

// text returns s without the secrets of the config in store.
func (t *textRedactor) text(store ResourceReader, s string) string {
	if r := t.current(store); r != nil {
		return r.Replace(s)
	}
	return s
}

func (t *textRedactor) current(store ResourceReader) *strings.Replacer {
	if store == nil {
		return nil
	}
	res, err := store.Get(resources.NamespaceConfig, resources.TypeMachineConfig, resources.MachineConfigID)
	if err != nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.replacer != nil && t.version == res.Version {
		return t.replacer
	}
	spec, ok := res.Spec.(*resources.MachineConfigSpec)
	if !ok || spec.Config == nil {
		return nil
	}
	var pairs []string
	for _, s := range secretsOf(spec.Config) {
		pairs = append(pairs, s, redacted)
	}
	t.version, t.replacer = res.Version, strings.NewReplacer(pairs...)
	return t.replacer
}
