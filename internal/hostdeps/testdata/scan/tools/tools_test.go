package tools

import "testing"

func requireTool(t *testing.T, tool, pkg string) {}

func TestFixture(t *testing.T) { requireTool(t, "fixture-oracle", "fixture-pkg") }

// A path on the node, marked as such, is not a host file.
var nodePath = "/usr/share/fixture/on-the-node" // hostdeps:node
