package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/kiln-os/kiln/config"
)

// schema is the subset of JSON Schema 2020-12 the config needs. Fields are in the order
// they appear in schema.json; properties marshal with sorted keys, so output is stable.
type schema struct {
	Schema               string             `json:"$schema,omitempty"`
	Title                string             `json:"title,omitempty"`
	Description          string             `json:"description,omitempty"`
	Type                 any                `json:"type,omitempty"`
	Enum                 []string           `json:"enum,omitempty"`
	Pattern              string             `json:"pattern,omitempty"`
	MaxLength            *int64             `json:"maxLength,omitempty"`
	Minimum              *int64             `json:"minimum,omitempty"`
	Maximum              *int64             `json:"maximum,omitempty"`
	Default              any                `json:"default,omitempty"`
	Items                *schema            `json:"items,omitempty"`
	Properties           map[string]*schema `json:"properties,omitempty"`
	Required             []string           `json:"required,omitempty"`
	PropertyNames        *schema            `json:"propertyNames,omitempty"`
	AdditionalProperties any                `json:"additionalProperties,omitempty"`
}

// generate returns schema.json for package config, whose source is in src.
func generate(src string) ([]byte, error) {
	docs, err := fieldDocs(src)
	if err != nil {
		return nil, err
	}
	g := generator{docs: docs}
	root := g.object(reflect.TypeFor[config.Config]())
	if len(g.missing) > 0 {
		return nil, fmt.Errorf("fields without a doc comment (it becomes the description): %s", strings.Join(g.missing, ", "))
	}
	if g.err != nil {
		return nil, g.err
	}
	root.Schema = "https://json-schema.org/draft/2020-12/schema"
	root.Title = "Kiln machine config v1alpha1"
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type generator struct {
	docs    map[string]string
	missing []string
	err     error // the first bad struct tag
}

func (g *generator) object(t reflect.Type) *schema {
	s := &schema{Type: "object", Description: g.docs[t.Name()], Properties: map[string]*schema{}, AdditionalProperties: false}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		doc := g.docs[t.Name()+"."+f.Name]
		if doc == "" {
			g.missing = append(g.missing, t.Name()+"."+f.Name)
		}
		property := g.field(f)
		property.Description = doc
		s.Properties[name] = property
		if f.Tag.Get("required") == "true" {
			s.Required = append(s.Required, name)
		}
	}
	return s
}

func (g *generator) field(f reflect.StructField) *schema {
	switch f.Type.Kind() {
	case reflect.Struct:
		return g.object(f.Type)
	case reflect.Slice:
		item := g.value(f.Type.Elem(), reflect.StructTag(""))
		return &schema{Type: "array", Items: item}
	case reflect.Map:
		// Map values are written as any scalar (sysctls: {net.ipv4.ip_forward: 1}).
		values := &schema{Type: []string{"string", "integer", "number", "boolean"}}
		return &schema{Type: "object", PropertyNames: &schema{Pattern: f.Tag.Get("pattern")}, AdditionalProperties: values}
	}
	return g.value(f.Type, f.Tag)
}

// value is the schema of a scalar (or a struct in a list) with the constraints in tag.
func (g *generator) value(t reflect.Type, tag reflect.StructTag) *schema {
	if t.Kind() == reflect.Struct {
		return g.object(t)
	}
	s := &schema{Type: jsonType(t.Kind()), Pattern: tag.Get("pattern")}
	if enum := tag.Get("enum"); enum != "" {
		s.Enum = strings.Split(enum, "|")
	}
	s.Minimum = g.integer(tag, "min")
	s.Maximum = g.integer(tag, "max")
	s.MaxLength = g.integer(tag, "maxLength")
	if text, ok := tag.Lookup("default"); ok {
		s.Default = g.defaultValue(t.Kind(), text)
	}
	return s
}

func (g *generator) integer(tag reflect.StructTag, key string) *int64 {
	text, ok := tag.Lookup(key)
	if !ok {
		return nil
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil && g.err == nil {
		g.err = fmt.Errorf("tag %s:%q: %w", key, text, err)
	}
	return &n
}

func (g *generator) defaultValue(kind reflect.Kind, text string) any {
	var value any = text
	var err error
	switch kind {
	case reflect.Bool:
		value, err = strconv.ParseBool(text)
	case reflect.Int, reflect.Uint32:
		value, err = strconv.ParseInt(text, 10, 64)
	}
	if err != nil && g.err == nil {
		g.err = fmt.Errorf("tag default:%q: %w", text, err)
	}
	return value
}

func jsonType(kind reflect.Kind) string {
	switch kind {
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Uint32:
		return "integer"
	}
	return "string"
}
