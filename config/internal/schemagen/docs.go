package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
)

// fieldDocs returns the doc comment of every struct type and struct field declared in the
// package source under dir, keyed "Type" and "Type.Field", each on one line.
func fieldDocs(dir string) (map[string]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	docs := map[string]string{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		collectDocs(file, docs)
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("no struct types found under %s: -src must name config's directory", dir)
	}
	return docs, nil
}

func collectDocs(file *ast.File, docs map[string]string) {
	for _, decl := range file.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.TYPE {
			continue
		}
		for _, spec := range gen.Specs {
			typeSpec := spec.(*ast.TypeSpec)
			structType, ok := typeSpec.Type.(*ast.StructType)
			if !ok {
				continue
			}
			docs[typeSpec.Name.Name] = oneLine(gen.Doc.Text())
			for _, field := range structType.Fields.List {
				for _, name := range field.Names {
					docs[typeSpec.Name.Name+"."+name.Name] = oneLine(field.Doc.Text())
				}
			}
		}
	}
}

func oneLine(text string) string {
	return strings.Join(strings.Fields(text), " ")
}
