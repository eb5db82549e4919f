// Package strictyaml decodes one YAML document into a Go struct strictly: unknown fields,
// values of the wrong type, duplicate keys and aliases are errors, each with its line and
// field path, and all of them are reported together. Both documents a user writes by hand
// read through it, kiln.yaml (pipeline) and the machine config (config), so that the two
// accept the same YAML and word their errors the same way.
//
// The room: the walk from a yaml.Node tree to the struct fields named by their `yaml` tags
// (structs, map[string]string-like maps, slices, strings, bools and integers), and the
// error it reports. It checks shape only, never meaning (the caller validates), reads no
// files, and imports nothing of Kiln, so the builder and the node can both use it.
//
// What the decoder holds back on purpose: aliases (a few bytes of anchors can expand into
// a huge document), YAML numbers or booleans where a string is expected (1.10 would read
// as text someone did not mean; quote it), and more than one document in a file.
package strictyaml
