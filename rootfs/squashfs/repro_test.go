package squashfs

import (
	"bytes"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// TestReproducible builds the same entries in three insertion orders,
// including children before the AddDir of their parent.
func TestReproducible(t *testing.T) {
	entries := richEntries()
	first := buildImage(t, Options{ModTime: testTime}, entries)

	reversed := slices.Clone(entries)
	slices.Reverse(reversed)
	shuffled := slices.Clone(entries)
	rand.New(rand.NewPCG(5, 6)).Shuffle(len(shuffled), func(i, j int) {
		shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
	})
	for name, order := range map[string][]entry{"reversed": reversed, "shuffled": shuffled} {
		if got := buildImage(t, Options{ModTime: testTime}, order); !bytes.Equal(got, first) {
			t.Errorf("%s insertion order: image differs (%d vs %d bytes)", name, len(got), len(first))
		}
	}
}

// tinyEntries is the golden image's content; see testdata/README.md.
func tinyEntries() []entry {
	return []entry{
		dirEntry("etc", 0o755),
		fileEntry("etc/hostname", 0o644, []byte("kiln\n")),
		fileEntry("etc/motd", 0o644, []byte(strings.Repeat("immutable ", 100))),
		dirEntry("tmp", 0o777|os.ModeSticky),
		linkEntry("bin", "usr/bin"),
		fileEntry("usr/bin/true", 0o755, []byte("#!/bin/sh\n")),
	}
}

func TestGolden(t *testing.T) {
	golden := filepath.Join("testdata", "tiny.sqsh")
	got := buildImage(t, Options{ModTime: testTime}, tinyEntries())
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("image differs from %s; if the change is intended and the oracle tests pass, rerun with -update", golden)
	}
}
