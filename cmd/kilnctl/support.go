package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"path"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/internal/atomicfile"
)

// supportSection is one file of a node's part of the bundle: the output of a command run
// against that node, in a format of its own.
type supportSection struct {
	file   string
	format string
	run    func(e *env) error
}

// supportSections is what a bundle holds for each node (issue 17): versions, every
// resource (the node redacts secrets), events, dmesg, processes, memory, mounts, disks,
// sockets, health, and, added per node, the log of every service and of machined.
var supportSections = []supportSection{
	{"version.json", formatJSON, func(e *env) error { return cmdVersion(e, nil) }},
	{"services.json", formatJSON, func(e *env) error { return cmdServices(e, nil) }},
	{"resources.yaml", formatYAML, func(e *env) error { return e.listResources(resourceFlags{}, "") }},
	{"events.txt", formatTable, func(e *env) error { return cmdEvents(e, nil) }},
	{"dmesg.txt", formatTable, func(e *env) error { return cmdDmesg(e, nil) }},
	{"processes.json", formatJSON, func(e *env) error { return cmdProcesses(e, nil) }},
	{"memory.json", formatJSON, func(e *env) error { return cmdMemory(e, nil) }},
	{"mounts.json", formatJSON, func(e *env) error { return cmdMounts(e, nil) }},
	{"disks.json", formatJSON, func(e *env) error { return cmdDisks(e, nil) }},
	{"netstat.json", formatJSON, func(e *env) error { return cmdNetstat(e, nil) }},
	{"health.txt", formatTable, func(e *env) error { return cmdHealth(e, nil) }},
}

// cmdSupport runs "support [--output FILE]": a gzipped tar with a folder per node (-n
// a,b,c, or the context's first endpoint) holding supportSections and logs/<source>.log.
// A section that fails (a role that may not read it, a node that is down) is written as
// the error it got, listed in the node's errors.txt, and the rest goes on: a bundle is
// taken when something is wrong. The file is written whole or not at all.
func cmdSupport(e *env, args []string) error {
	fs := e.flagSet("support")
	output := fs.String("output", "support.tar.gz", "the bundle to write")
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	nodes, err := e.supportNodes()
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	now := time.Now()
	var failed []string
	for _, node := range nodes {
		files, errs := e.collect(node)
		for _, f := range files {
			hdr := &tar.Header{Name: path.Join(dirName(node), f.name), Mode: 0o600, Size: int64(len(f.data)), ModTime: now, Format: tar.FormatPAX}
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			if _, err := tw.Write(f.data); err != nil {
				return err
			}
		}
		if len(errs) > 0 {
			failed = append(failed, fmt.Sprintf("%s (%d of its sections)", node, len(errs)))
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	// 0600: the bundle holds logs and resources an operator chose to share, not the world.
	if err := atomicfile.Write(*output, buf.Bytes(), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s (%d bytes, %d node(s))\n", *output, buf.Len(), len(nodes))
	if len(failed) > 0 {
		fmt.Fprintf(e.stderr, "some sections failed, see errors.txt in: %s\n", strings.Join(failed, ", "))
	}
	return nil
}

// supportNodes are the nodes -n names, else the context's first endpoint.
func (e *env) supportNodes() ([]string, error) {
	if e.g.nodes != "" {
		return splitNodes(e.g.nodes)
	}
	ctx, err := e.context(false)
	if err != nil {
		return nil, err
	}
	if ctx == nil || len(ctx.Endpoints) == 0 {
		return nil, fmt.Errorf("no node to take a bundle of: pass -n ADDR[,ADDR…], or add endpoints to the context")
	}
	return ctx.Endpoints[:1], nil
}

// bundleFile is one file of a node's folder.
type bundleFile struct {
	name string
	data []byte
}

// collect runs every section against node; a failed section's file holds its error.
func (e *env) collect(node string) ([]bundleFile, []string) {
	var files []bundleFile
	var errs []string
	// section runs one; optional sections that the node does not have (NotFound: a
	// service that keeps no log) are left out rather than reported.
	section := func(name, format string, optional bool, run func(*env) error) {
		var out, errOut bytes.Buffer
		g := *e.g
		g.nodes, g.output = node, format
		ne := &env{ctx: e.ctx, g: &g, stdin: noStdin{}, stdout: &out, stderr: &errOut}
		if err := run(ne); err != nil {
			if optional && status.Code(err) == codes.NotFound {
				return
			}
			errs = append(errs, fmt.Sprintf("%s: %v", name, err))
			fmt.Fprintf(&out, "\nkilnctl: %v\n", err)
		}
		files = append(files, bundleFile{name, append(out.Bytes(), errOut.Bytes()...)})
	}
	for _, s := range supportSections {
		section(s.file, s.format, false, s.run)
	}
	for _, source := range e.logSources(node) {
		section("logs/"+source+".log", formatTable, true, func(ne *env) error { return cmdLogs(ne, []string{source}) })
	}
	if len(errs) > 0 {
		files = append(files, bundleFile{"errors.txt", []byte(strings.Join(errs, "\n") + "\n")})
	}
	return files, errs
}

// logSources are machined and every service the node runs.
func (e *env) logSources(node string) []string {
	sources := []string{"machined"}
	g := *e.g
	g.nodes = node
	ne := &env{ctx: e.ctx, g: &g, stdin: noStdin{}, stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	api, done, err := ne.dial()
	if err != nil {
		return sources
	}
	defer done()
	resp, err := api.ServiceList(e.ctx, &machine.ServiceListRequest{})
	if err != nil {
		return sources
	}
	for _, s := range resp.GetServices() {
		sources = append(sources, s.GetName())
	}
	return sources
}

// dirName is a node's folder in the bundle: its address with ':' as '_'.
func dirName(node string) string {
	return strings.NewReplacer(":", "_", "/", "_", "[", "", "]", "").Replace(node)
}
