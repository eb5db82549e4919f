package nftcmd

import (
	"slices"
	"testing"
)

func TestCommand(t *testing.T) {
	path, argv := Command("/opt/kubernetes/bin/nft", []string{"nft", "-f", "-"})
	if path != "/opt/kubernetes/lib/nft/ld-linux-x86-64.so.2" {
		t.Errorf("loader %s", path)
	}
	want := []string{"nft", "--library-path", "/opt/kubernetes/lib/nft", "--argv0", "nft", "/opt/kubernetes/lib/nft/nft", "-f", "-"}
	if !slices.Equal(argv, want) {
		t.Errorf("argv %q, want %q", argv, want)
	}
}
