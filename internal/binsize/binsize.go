// Package binsize tells what a Go ELF binary is made of: the bytes each module and each
// package contributes to the file, from the symbol table and the build info the Go linker
// writes. It reads the binary and nothing else; it does not build anything.
//
// Only sections loaded from the file count (not .bss/.noptrbss, which the kernel
// zero-fills, nor the symbol table and DWARF that -s -w strip), so the rows add up to what
// a stripped build ships, less ELF headers and padding. Bytes of a section that no sized
// symbol covers are a row of their own, "(no symbol) .gopclntab" (the pc-line table:
// function names and line numbers for every function) above all; go:func.* is one symbol
// for all functions' metadata. The linker does not split either by package.
package binsize

import (
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrNoSymbols is returned for a stripped binary: build it without -s -w to analyse it.
var ErrNoSymbols = errors.New("binsize: no symbol table (the binary was linked with -s; build it without -s -w)")

// Group is the bytes one module or package contributes.
type Group struct {
	Name  string
	Bytes int64
}

// Report is the breakdown of one binary.
type Report struct {
	FileBytes   int64
	SymbolBytes int64   // bytes of the sections loaded from the file: what the rows add up to
	Modules     []Group // largest first; the standard library is "std"
	Packages    []Group // largest first
}

// Analyze reads path's symbols and build info.
func Analyze(path string) (*Report, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	syms, err := f.Symbols()
	if errors.Is(err, elf.ErrNoSymbols) || len(syms) == 0 {
		return nil, fmt.Errorf("%s: %w", path, ErrNoSymbols)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: build info: %w", path, err)
	}
	mods := moduleIndex(info)
	byPkg := map[string]int64{}
	r := &Report{}
	perSection := map[elf.SectionIndex]int64{}
	for _, s := range syms {
		if !inFile(f, s) {
			continue
		}
		pkg := PackageOf(s.Name)
		if pkg == "main" {
			pkg = info.Path
		}
		byPkg[pkg] += int64(s.Size)
		perSection[s.Section] += int64(s.Size)
	}
	for i, sec := range f.Sections {
		if sec.Type == elf.SHT_NOBITS || sec.Flags&elf.SHF_ALLOC == 0 {
			continue
		}
		r.SymbolBytes += int64(sec.Size)
		if gap := int64(sec.Size) - perSection[elf.SectionIndex(i)]; gap > 0 {
			byPkg["(no symbol) "+sec.Name] += gap
		}
	}
	byMod := map[string]int64{}
	for pkg, n := range byPkg {
		byMod[mods.of(pkg)] += n
	}
	r.Packages, r.Modules = sorted(byPkg), sorted(byMod)
	if st, err := fileSize(path); err == nil {
		r.FileBytes = st
	}
	return r, nil
}

// inFile: the symbol's section has bytes in the file (not SHT_NOBITS, not absolute).
func inFile(f *elf.File, s elf.Symbol) bool {
	if s.Section >= elf.SHN_LORESERVE || int(s.Section) >= len(f.Sections) || s.Section == elf.SHN_UNDEF || s.Size == 0 {
		return false
	}
	sec := f.Sections[s.Section]
	return sec.Type != elf.SHT_NOBITS && sec.Flags&elf.SHF_ALLOC != 0
}

// PackageOf returns the import path of the package a Go symbol belongs to:
// "github.com/a/b.(*T).M" → "github.com/a/b", "type:*net/http.Request" → "net/http".
// Linker-made symbols without a package (go:func.*, runtime.pclntab's kin) keep a name of
// their own so that they show as rows.
func PackageOf(sym string) string {
	for _, p := range []string{"type:.eq.", "type:", "go:itab."} {
		if rest, ok := strings.CutPrefix(sym, p); ok {
			sym = strings.TrimLeft(rest, "*[]0123456789")
			break
		}
	}
	if strings.HasPrefix(sym, "go:") || strings.HasPrefix(sym, ".") || sym == "runtime.findfunctab" {
		return "(linker) " + sym
	}
	slash := strings.LastIndex(sym[:indexAny(sym, "([")], "/")
	dot := strings.Index(sym[slash+1:], ".")
	if dot < 0 {
		return "(other)"
	}
	// The linker escapes dots in a path's last element (gopkg.in/yaml%2ev3).
	return strings.ReplaceAll(sym[:slash+1+dot], "%2e", ".")
}

func indexAny(s, chars string) int {
	if i := strings.IndexAny(s, chars); i >= 0 {
		return i
	}
	return len(s)
}

// modules maps package paths to the module that provides them.
type modules []string

func moduleIndex(info *buildinfo.BuildInfo) modules {
	m := modules{info.Main.Path}
	for _, d := range info.Deps {
		m = append(m, d.Path)
	}
	// Longest first, so that a nested module (a/b/v2) wins over its parent (a/b).
	sort.Slice(m, func(i, j int) bool { return len(m[i]) > len(m[j]) })
	return m
}

func (m modules) of(pkg string) string {
	if strings.HasPrefix(pkg, "(") {
		return pkg
	}
	for _, mod := range m {
		if pkg == mod || strings.HasPrefix(pkg, mod+"/") {
			return mod
		}
	}
	first, _, _ := strings.Cut(pkg, "/")
	if !strings.Contains(first, ".") {
		return "std" // the standard library, its vendor/ tree included
	}
	return "(other)"
}

func sorted(m map[string]int64) []Group {
	out := make([]Group, 0, len(m))
	for name, n := range m {
		out = append(out, Group{name, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Bytes != out[j].Bytes {
			return out[i].Bytes > out[j].Bytes
		}
		return out[i].Name < out[j].Name
	})
	return out
}
