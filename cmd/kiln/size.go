package main

import (
	"fmt"
	"io"

	"github.com/kiln-os/kiln/internal/binsize"
)

// cmdSize prints what a Go binary is made of, per module and per package, as Markdown
// tables (make bench puts them into docs/benchmarks.md).
func cmdSize(args []string, stdout io.Writer) error {
	fs := newFlagSet("size")
	top := fs.Int("top", 15, "rows per table")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: size: %w", errUsage, err)
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: size takes one binary (built without -s -w)", errUsage)
	}
	r, err := binsize.Analyze(fs.Arg(0))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d bytes in the file with symbols; %d of them counted below (code, data, type data, pc-line table: the sections a stripped build ships).\n\n", r.FileBytes, r.SymbolBytes)
	writeGroups(stdout, "module", r.Modules, r.SymbolBytes, *top)
	fmt.Fprintln(stdout)
	writeGroups(stdout, "package", r.Packages, r.SymbolBytes, *top)
	return nil
}

func writeGroups(w io.Writer, what string, groups []binsize.Group, total int64, top int) {
	fmt.Fprintf(w, "| %s | bytes | share |\n|---|---:|---:|\n", what)
	var rest int64
	for i, g := range groups {
		if i >= top {
			rest += g.Bytes
			continue
		}
		fmt.Fprintf(w, "| `%s` | %d | %.1f %% |\n", g.Name, g.Bytes, percent(g.Bytes, total))
	}
	if rest > 0 {
		fmt.Fprintf(w, "| %d more | %d | %.1f %% |\n", len(groups)-top, rest, percent(rest, total))
	}
}

func percent(n, total int64) float64 {
	if total == 0 {
		return 0
	}
	return 100 * float64(n) / float64(total)
}
