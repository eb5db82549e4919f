package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReplacesAndLeavesNoTemporaries(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "state.yaml")
	for _, content := range []string{"one", "two"} {
		if err := Write(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(path)
		if string(got) != content {
			t.Errorf("content %q, want %q", got, content)
		}
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporaries left: %v", entries)
	}
}

func TestWriteIntoMissingParentThatCannotBeMade(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	os.WriteFile(blocker, nil, 0o644)
	if err := Write(filepath.Join(blocker, "x"), []byte("y"), 0o644); err == nil {
		t.Fatal("write under a regular file succeeded")
	}
}

// A pending file changes nothing at its target until Commit, under the name given then;
// Discard after a failure leaves nothing behind.
func TestPendingCommitAndDiscard(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "target"), []byte("old"), 0o644)
	p, err := Create(dir, "target")
	if err != nil {
		t.Fatal(err)
	}
	p.Write([]byte("new"))
	if got, _ := os.ReadFile(filepath.Join(dir, "target")); string(got) != "old" {
		t.Errorf("target %q before Commit, want old", got)
	}
	if err := p.Commit("target", 0o600); err != nil {
		t.Fatal(err)
	}
	p.Discard() // deferred by callers: a no-op after Commit
	if got, _ := os.ReadFile(filepath.Join(dir, "target")); string(got) != "new" {
		t.Errorf("target %q after Commit, want new", got)
	}

	q, err := Create(dir, "other")
	if err != nil {
		t.Fatal(err)
	}
	q.Write([]byte("half"))
	q.Discard()
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "target" {
		t.Errorf("after Discard the directory holds %v, want only target", entries)
	}
}
