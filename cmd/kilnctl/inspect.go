package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/kiln-os/kiln/api/machine"
)

// formatDot is -o dot, which only inspect controllers knows: the graph in Graphviz.
const formatDot = "dot"

func cmdInspect(e *env, args []string) error {
	pos, err := parseArgs(e.flagSet("inspect"), args, 1, 1)
	if err != nil {
		return err
	}
	if pos[0] != "controllers" {
		return fmt.Errorf("%w: inspect %q: only inspect controllers exists", errUsage, pos[0])
	}
	dot := e.g.output == formatDot
	if dot {
		e.g.output = formatTable // dial checks -o against the formats every command knows
	}
	api, done, err := e.dial()
	if err != nil {
		return err
	}
	defer done()
	resp, err := api.InspectControllers(e.ctx, &machine.InspectControllersRequest{})
	if err != nil {
		return err
	}
	switch {
	case dot:
		return writeDot(e.stdout, resp.GetControllers())
	case e.structured():
		return e.printMessage(resp)
	}
	return e.controllerTable(resp.GetControllers())
}

func (e *env) controllerTable(controllers []*machine.ControllerInfo) error {
	tw := e.table()
	fmt.Fprintln(tw, "CONTROLLER\tINPUTS\tOUTPUTS")
	for _, c := range controllers {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.GetName(), kinds(c.GetInputs()), kinds(c.GetOutputs()))
	}
	return tw.Flush()
}

func kinds(list []*machine.ResourceKind) string {
	if len(list) == 0 {
		return "-"
	}
	names := make([]string, 0, len(list))
	for _, k := range list {
		names = append(names, kindName(k))
	}
	return strings.Join(names, ",")
}

func kindName(k *machine.ResourceKind) string {
	if k.GetNamespace() == "" {
		return k.GetType()
	}
	return k.GetNamespace() + "/" + k.GetType()
}

// writeDot prints the controllers as boxes and the resource types as ellipses, with an
// edge from each input type to its controller and from the controller to each output.
func writeDot(w io.Writer, controllers []*machine.ControllerInfo) error {
	var b strings.Builder
	b.WriteString("digraph controllers {\n  rankdir=LR;\n  node [shape=ellipse];\n")
	for _, c := range controllers {
		fmt.Fprintf(&b, "  %q [shape=box];\n", c.GetName())
		for _, in := range c.GetInputs() {
			fmt.Fprintf(&b, "  %q -> %q;\n", kindName(in), c.GetName())
		}
		for _, out := range c.GetOutputs() {
			fmt.Fprintf(&b, "  %q -> %q;\n", c.GetName(), kindName(out))
		}
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}
