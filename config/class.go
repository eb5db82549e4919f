package config

import (
	"fmt"
	"reflect"
	"strings"
)

// classTag is the struct tag that classifies a config field: "live" or "reboot",
// optionally followed by ",secret". Every field reachable from Config carries one; a test
// walks the types and fails on a field without it, so that a new field is never silently
// applied live (or left out of a diff, as a hand-kept list would).
//
//   - live: the running node applies a change to the field without a reboot (its
//     controllers derive the network, time and sysctl specs from the config resource).
//   - reboot: the change takes effect only on the next boot.
//   - secret: the value never leaves the node; Redact and Diff replace it by "(redacted)".
//
// On a field that holds a struct, or a list of structs, reboot and secret hold for
// everything beneath it; live defers to the tags beneath. So a change needs a reboot
// when any field on its path is tagged reboot, and is secret when any is tagged secret.
const classTag = "kiln"

// redacted stands in for a secret value in everything that leaves the node.
const redacted = "(redacted)"

// fieldClass is how a change to a field takes effect, from its kiln tag and its parents'.
type fieldClass struct {
	reboot bool
	secret bool
}

// parseClass reads the kiln tag of f.
func parseClass(f reflect.StructField) (fieldClass, error) {
	tag, ok := f.Tag.Lookup(classTag)
	if !ok {
		return fieldClass{}, fmt.Errorf("no %s tag: add %s:\"live\" or %s:\"reboot\" (with \",secret\" for a secret)", classTag, classTag, classTag)
	}
	words := strings.Split(tag, ",")
	var class fieldClass
	switch words[0] {
	case "live":
	case "reboot":
		class.reboot = true
	default:
		return fieldClass{}, fmt.Errorf("%s tag %q must start with live or reboot", classTag, tag)
	}
	for _, word := range words[1:] {
		if word != "secret" {
			return fieldClass{}, fmt.Errorf("%s tag %q: unknown option %q (known: secret)", classTag, tag, word)
		}
		class.secret = true
	}
	return class, nil
}

// fieldClassOf is the class of field f of a struct whose own class is parent. A field
// without a valid tag (which the type test catches) counts as reboot and secret: the
// safe reading, so that such a field is neither applied live nor shown.
func fieldClassOf(parent fieldClass, f reflect.StructField) fieldClass {
	class, err := parseClass(f)
	if err != nil {
		class = fieldClass{reboot: true, secret: true}
	}
	return fieldClass{reboot: parent.reboot || class.reboot, secret: parent.secret || class.secret}
}
