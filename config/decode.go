package config

import (
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/kiln-os/kiln/internal/strictyaml"
)

// Decode reads one YAML document strictly into a Config. Unknown fields, values of the
// wrong type, duplicate keys and aliases are errors; all of them are returned together as
// FieldErrors, each with its line and field path. Decode checks the shape only: call
// Validate for the meaning. A config over MaxSize is refused before it is parsed.
func Decode(data []byte) (*Config, error) {
	if err := CheckSize(len(data)); err != nil {
		return nil, err
	}
	root, err := parseDocument(data)
	if err != nil {
		return nil, invalid(err)
	}
	var cfg Config
	if problems := strictyaml.Decode(root, &cfg); len(problems) > 0 {
		return nil, fieldErrors(problems)
	}
	return &cfg, nil
}

// parseDocument returns the top node of the only document in data.
func parseDocument(data []byte) (*yaml.Node, error) {
	root, err := strictyaml.Parse(data)
	var syntax *strictyaml.SyntaxError
	switch {
	case errors.Is(err, strictyaml.ErrEmpty):
		return nil, errors.New("config is empty: expected a YAML document starting with version: v1alpha1")
	case errors.Is(err, strictyaml.ErrDocuments):
		return nil, errors.New("config holds more than one YAML document (---): give exactly one")
	case errors.As(err, &syntax):
		return nil, fmt.Errorf("config is not valid YAML: %w", syntax.Err)
	}
	return root, err
}

// fieldErrors turns the decoder's errors into this package's, so that Decode and Validate
// report alike.
func fieldErrors(problems []strictyaml.Problem) FieldErrors {
	out := make(FieldErrors, len(problems))
	for i, p := range problems {
		reason := p.Reason
		if p.UnknownField {
			reason = unknownFieldReason(p.Path, reason)
		}
		out[i] = &FieldError{Line: p.Line, Path: p.Path, Reason: reason}
	}
	return out
}

// The paths of fields and map entries are written as the decoder writes them.
var (
	joinPath     = strictyaml.JoinPath
	mapEntryPath = strictyaml.MapEntryPath
)
