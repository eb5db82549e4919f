// Command hello is a fixture for the binsize tests: a binary with one dependency module.
package main

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

func main() {
	out, _ := yaml.Marshal(map[string]int{"hello": 1})
	fmt.Print(string(out))
}
