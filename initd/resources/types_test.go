package resources

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestDefinitionsAreSortedUniqueAndDecodable(t *testing.T) {
	for i, d := range Definitions {
		if i > 0 {
			prev := Definitions[i-1]
			if prev.Namespace+"/"+prev.Type >= d.Namespace+"/"+d.Type {
				t.Errorf("Definitions not sorted or not unique at %s/%s", d.Namespace, d.Type)
			}
		}
		if got, ok := Lookup(d.Namespace, d.Type); !ok || got.Type != d.Type {
			t.Errorf("Lookup(%s, %s) = %+v, %v", d.Namespace, d.Type, got, ok)
		}
		spec := d.NewSpec()
		if reflect.TypeOf(spec).Kind() != reflect.Pointer {
			t.Errorf("%s: NewSpec returns %T, want a pointer to decode into", d.Type, spec)
		}
		if err := json.Unmarshal([]byte(`{}`), spec); err != nil {
			t.Errorf("%s: %v", d.Type, err)
		}
	}
	if _, ok := Lookup(NamespaceNetwork, TypeMachineConfig); ok {
		t.Error("Lookup found a type in the wrong namespace")
	}
}

// Specs are plain data: every field is exported and carries a JSON name, so the JSON
// round trip that copies them loses nothing and the API shows every field.
func TestSpecsArePlainData(t *testing.T) {
	for _, d := range Definitions {
		typ := reflect.TypeOf(d.NewSpec()).Elem()
		for i := range typ.NumField() {
			f := typ.Field(i)
			if !f.IsExported() || f.Tag.Get("json") == "" {
				t.Errorf("%s.%s: want an exported field with a json tag", typ.Name(), f.Name)
			}
		}
	}
}

// The API certificate resource carries no private key: resources are readable by every role.
func TestAPICertificateHasNoKey(t *testing.T) {
	typ := reflect.TypeOf(APICertificateSpec{})
	for i := range typ.NumField() {
		if name := strings.ToLower(typ.Field(i).Name); strings.Contains(name, "key") {
			t.Errorf("APICertificateSpec has field %s", typ.Field(i).Name)
		}
	}
}

// The store imports nothing of the node or the builder, and of the config only its types,
// for the config resource (package doc).
func TestImportsStayInTheRoom(t *testing.T) {
	names, _ := filepath.Glob("*.go")
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range file.Imports {
			path := strings.Trim(imp.Path.Value, `"`)
			if path == "github.com/kiln-os/kiln/config" && name == "types.go" {
				continue
			}
			if strings.Contains(path, ".") || slices.Contains([]string{"os", "syscall", "net", "io"}, path) {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
}
