// Package nftcmd is the nft program of the kube multi-call binary: it runs Debian's nft,
// which the payload carries with its shared libraries and their loader under lib/nft
// (kube-proxy's nftables mode programs its rules through nft). A Kiln root has no libc
// and no loader of its own, so nft runs through the payload's loader with the payload's
// library path; nothing is looked up in the root.
package nftcmd

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Loader is the dynamic loader's file name in lib/nft.
const Loader = "ld-linux-x86-64.so.2"

// Main replaces the process with nft; it returns only when that fails. args[0] is the
// program name.
func Main(args []string) int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "nft:", err)
		return 127
	}
	path, argv := Command(self, args)
	err = syscall.Exec(path, argv, os.Environ())
	fmt.Fprintf(os.Stderr, "nft: exec %s: %v\n", path, err)
	return 127
}

// Command is the loader to run and its argv for the kube binary at self (bin/kube or a
// link beside it) and nft's args.
func Command(self string, args []string) (string, []string) {
	dir := filepath.Join(filepath.Dir(self), "..", "lib", "nft")
	argv := []string{"nft", "--library-path", dir, "--argv0", "nft", filepath.Join(dir, "nft")}
	return filepath.Join(dir, Loader), append(argv, args[1:]...)
}
