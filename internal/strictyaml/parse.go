package strictyaml

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Errors of Parse. A document that does not parse is a *SyntaxError.
var (
	ErrEmpty     = errors.New("strictyaml: no YAML document")
	ErrDocuments = errors.New("strictyaml: more than one YAML document (---)")
)

// SyntaxError is YAML that does not parse. Line is 1-based, 0 when the parser named none.
type SyntaxError struct {
	Line int
	Msg  string // the parser's reason, without its "yaml: line N:" prefix
	Err  error
}

func (e *SyntaxError) Error() string { return e.Err.Error() }
func (e *SyntaxError) Unwrap() error { return e.Err }

// Parse returns the top node of the only document in data: ErrEmpty when there is none
// (an empty file or only comments), ErrDocuments when there are more.
func Parse(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, ErrEmpty
		}
		return nil, syntaxError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, ErrDocuments
	}
	if len(doc.Content) == 0 {
		return nil, ErrEmpty
	}
	return doc.Content[0], nil
}

// yamlLine matches how gopkg.in/yaml.v3 words a syntax error, the only place it gives the
// line: "yaml: line 3: did not find expected key".
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func syntaxError(err error) *SyntaxError {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1]) // the pattern admits digits only
		return &SyntaxError{Line: line, Msg: m[2], Err: err}
	}
	return &SyntaxError{Msg: strings.TrimPrefix(err.Error(), "yaml: "), Err: err}
}

// Problem is one problem with one field of a document.
type Problem struct {
	Line   int    // 1-based line in the document
	Path   string // e.g. machine.network.interfaces[0].dhcp; empty for the document
	Reason string
	// UnknownField is set when the problem is a mapping key that names no field, so a
	// caller may word it better (a field it knows of but does not implement).
	UnknownField bool
}

// JoinPath is the path of field name inside path: "machine" + "network".
func JoinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// MapEntryPath is the path of a map entry: machine.sysctls["vm.swappiness"].
func MapEntryPath(path, key string) string {
	return fmt.Sprintf("%s[%q]", path, key)
}
