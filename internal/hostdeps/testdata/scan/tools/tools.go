// Package tools is a fixture for Scan: every way the repository names a host tool or file.
package tools

import (
	"context"
	"os/exec"
)

const firmware = "/usr/share/fixture/firmware.fd"

func run(ctx context.Context) {
	exec.Command("fixture-tool", "-v")
	exec.CommandContext(ctx, "fixture-ctx-tool")
	exec.LookPath("fixture-lookup")
	exec.Command("go", "build") // the Go toolchain is not a Debian package
	_ = "/usr/"                 // a bare prefix is not a file
	_ = firmware
}
