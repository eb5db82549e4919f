package tools

import "testing"

func requireTool(t *testing.T, tool, pkg string) {}

func TestFixture(t *testing.T) { requireTool(t, "fixture-oracle", "fixture-pkg") }
