package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"gopkg.in/yaml.v3"
)

// Output formats for -o.
const (
	formatTable = "table"
	formatJSON  = "json"
	formatYAML  = "yaml"
)

func (e *env) checkOutput() error {
	switch e.g.output {
	case formatTable, formatJSON, formatYAML:
		return nil
	}
	return fmt.Errorf("%w: -o %q: want table, json or yaml", errUsage, e.g.output)
}

// protoJSON writes field names as in the .proto file, and zero values too, so a script
// can tell "false" from "absent".
var protoJSON = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}

// printer writes documents in the chosen structured format: one indented JSON document,
// or JSON lines for a stream; YAML documents separated by "---".
type printer struct {
	format string
	w      io.Writer
	stream bool
	yaml   *yaml.Encoder
}

func (e *env) printer(stream bool) *printer {
	return &printer{format: e.g.output, w: e.stdout, stream: stream}
}

// message prints one protobuf message.
func (p *printer) message(m proto.Message) error {
	data, err := protoJSON.Marshal(m)
	if err != nil {
		return err
	}
	return p.json(data)
}

// json prints one JSON document in the printer's format.
func (p *printer) json(data []byte) error {
	if p.format == formatYAML {
		return p.yamlFromJSON(data)
	}
	var buf bytes.Buffer
	var err error
	if p.stream {
		err = json.Compact(&buf, data)
	} else {
		err = json.Indent(&buf, data, "", "  ")
	}
	if err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err = p.w.Write(buf.Bytes())
	return err
}

// yamlFromJSON converts through yaml.Node rather than a map, so keys keep their order.
func (p *printer) yamlFromJSON(data []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return err
	}
	blockStyle(&doc)
	if p.yaml == nil {
		p.yaml = yaml.NewEncoder(p.w)
		p.yaml.SetIndent(2)
	}
	return p.yaml.Encode(&doc)
}

// blockStyle drops the flow and quoting styles JSON syntax gave the nodes; the encoder
// quotes again the strings that need it.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// close flushes a YAML stream.
func (p *printer) close() error {
	if p.yaml == nil {
		return nil
	}
	return p.yaml.Close()
}

// table returns an aligned table writer; call Flush when done.
func (e *env) table() *tabwriter.Writer {
	return tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
}

// structured reports whether -o asks for json or yaml rather than a table.
func (e *env) structured() bool {
	return e.g.output != formatTable
}

// printMessage prints one message as a whole document in the structured format.
func (e *env) printMessage(m proto.Message) error {
	p := e.printer(false)
	if err := p.message(m); err != nil {
		return err
	}
	return p.close()
}
