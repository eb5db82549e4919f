package pipeline

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestCacheStepRunsOnceAndKeepsNothingOnFailure(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	key := Key("a", "b")
	runs := 0
	produce := func(dir string) error {
		runs++
		return os.WriteFile(filepath.Join(dir, "out"), []byte("x"), 0o644)
	}
	dir, hit, err := c.Step("s", key, produce)
	if err != nil || hit {
		t.Fatalf("first: hit=%v err=%v", hit, err)
	}
	dir2, hit, err := c.Step("s", key, produce)
	if err != nil || !hit || dir2 != dir || runs != 1 {
		t.Fatalf("second: hit=%v err=%v runs=%d", hit, err, runs)
	}
	boom := errors.New("boom")
	if _, _, err := c.Step("s", Key("other"), func(string) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(c.Dir, "steps", "s", Key("other"))); !os.IsNotExist(err) {
		t.Errorf("failed step left an entry: %v", err)
	}
}

func TestKeyIsUnambiguous(t *testing.T) {
	if Key("ab", "c") == Key("a", "bc") {
		t.Error("Key does not separate parts")
	}
}
