package main

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// support writes one bundle with a folder per node, each with every section; a section
// the node does not answer holds its error and is listed in errors.txt, and the rest is
// still there. The bundle is the operator's alone (0600).
func TestSupportBundle(t *testing.T) {
	ca := newTestCA(t)
	a, b := serveConfigured(t, ca, &fakeNode{}), serveConfigured(t, ca, &fakeNode{})
	kc := writeContext(t, ca, ca.clientCert(t, "os:reader", time.Time{}), a)
	out := filepath.Join(t.TempDir(), "bundle.tar.gz")
	r := runCtl(t, "--kiln-config", kc, "-n", a+","+b, "support", "--output", out)
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.stderr)
	}
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("bundle %v, %v, want mode 0600", st, err)
	}
	files := readBundle(t, out)
	for _, node := range []string{a, b} {
		dir := dirName(node) + "/"
		for _, s := range supportSections {
			if _, ok := files[dir+s.file]; !ok {
				t.Errorf("%s%s missing", dir, s.file)
			}
		}
		if !strings.Contains(files[dir+"version.json"], `"version"`) {
			t.Errorf("%sversion.json:\n%s", dir, files[dir+"version.json"])
		}
		if !strings.Contains(files[dir+"resources.yaml"], "10.0.2.15/24") {
			t.Errorf("%sresources.yaml:\n%s", dir, files[dir+"resources.yaml"])
		}
		if !strings.Contains(files[dir+"processes.json"], "/sbin/init") { // hostdeps:node
			t.Errorf("%sprocesses.json:\n%s", dir, files[dir+"processes.json"])
		}
		// The fake node does not serve Dmesg: that section holds the error, and
		// errors.txt names it.
		if !strings.Contains(files[dir+"dmesg.txt"], "does not serve Dmesg") || !strings.Contains(files[dir+"errors.txt"], "dmesg.txt") {
			t.Errorf("a failed section is not recorded: %q / %q", files[dir+"dmesg.txt"], files[dir+"errors.txt"])
		}
		if _, ok := files[dir+"logs/machined.log"]; !ok {
			t.Errorf("%slogs/machined.log missing", dir)
		}
	}
	if !strings.Contains(r.stdout, "2 node(s)") || !strings.Contains(r.stderr, "errors.txt") {
		t.Errorf("stdout %q, stderr %q", r.stdout, r.stderr)
	}
}

func readBundle(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	files := map[string]string{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[hdr.Name] = string(data)
	}
}
