package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/kiln-os/kiln/config"
)

// errUnpinned refuses to send secrets to a node whose certificate nobody checked: in
// maintenance mode, --insecure alone accepts whoever answers at the address.
var errUnpinned = errors.New("refusing to send secrets to an unpinned node")

// checkPinned refuses, without --fingerprint, a config that holds private keys or the
// join token, unless the operator confirms on a terminal. With a context (no --insecure)
// the node's certificate is verified against the cluster CA, and with --fingerprint it is
// pinned: both are fine.
func (e *env) checkPinned(data []byte, fromStdin bool) error {
	if !e.g.insecure || e.g.fingerprint != "" {
		return nil
	}
	held := secretsIn(data)
	if held == "" {
		return nil
	}
	if !fromStdin && e.confirm(held) {
		return nil
	}
	return fmt.Errorf("%w: the config holds %s, and --insecure accepts any server at %s; pass --fingerprint SHA256 with the fingerprint shown on the node's console and in its maintenance event (kilnctl --insecure version prints the one it sees, to compare)",
		errUnpinned, held, e.g.nodes)
}

// secretsIn says what secrets data holds ("" for none): the fields the config tags
// secret (config.Redact hides them) and any PEM private key. A config kilnctl cannot
// decode counts as secret: it cannot tell what is inside.
func secretsIn(data []byte) string {
	var held []string
	cfg, err := config.Decode(data)
	if err != nil {
		held = append(held, fmt.Sprintf("content kilnctl cannot check for secrets (%v)", err))
	} else {
		for _, c := range config.Diff(cfg, config.Redact(cfg)) {
			held = append(held, c.Path)
		}
	}
	if bytes.Contains(data, []byte("PRIVATE KEY-----")) {
		held = append(held, "a PEM private key")
	}
	return strings.Join(held, ", ")
}

// confirm asks the operator, only when stdin is a terminal (never in tests or CI),
// whether to send the secrets anyway; anything but "yes" is no.
func (e *env) confirm(held string) bool {
	f, ok := e.stdin.(*os.File)
	if !ok || !isTerminal(f) {
		return false
	}
	fmt.Fprintf(e.stderr, "the config holds %s and the node at %s is not pinned (--fingerprint).\n", held, e.g.nodes)
	fmt.Fprint(e.stderr, "Compare the node certificate SHA-256 that kilnctl printed with the one on the node's console. Send anyway? Type yes: ")
	answer, _ := bufio.NewReader(f).ReadString('\n')
	return strings.TrimSpace(answer) == "yes"
}
