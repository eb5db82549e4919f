// Command schemagen writes config/schema.json, the JSON Schema (draft 2020-12) of the
// machine config, from the Go types of package config: their shape by reflection, the
// descriptions from the field doc comments (parsed from the package source), and the
// constraints from the required, enum, pattern, min, max, maxLength and default struct
// tags. go generate ./config runs it; its test fails when schema.json is stale.
//
// It is a build-time tool inside the config room: it reads config's source and writes one
// file, and touches nothing else.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	src := flag.String("src", ".", "directory of package config's source")
	out := flag.String("o", "schema.json", "file to write")
	flag.Parse()
	if err := run(*src, *out); err != nil {
		fmt.Fprintln(os.Stderr, "schemagen:", err)
		os.Exit(1)
	}
}

func run(src, out string) error {
	data, err := generate(src)
	if err != nil {
		return err
	}
	return os.WriteFile(out, data, 0o644)
}
