package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/kiln-os/kiln/config"
)

// editHeader opens the file the editor shows. Its lines, and the error lines of a bad
// save, start with "# " and are comments to the config decoder.
const editHeader = `# The node's machine config. Secrets read (redacted): leave them so to keep the node's
# (kilnctl puts them back from --secrets-from), or write a new value to change one.
# Save and quit to validate and apply it; quit without saving to change nothing.
`

// errEditCancelled is a save left as it was shown: nothing is applied.
var errEditCancelled = errors.New("edit cancelled: the file was saved unchanged")

// cmdEdit runs "edit machineconfig": $EDITOR on the node's config (secrets redacted),
// then validate, put the secrets back and apply; a bad save reopens with its errors.
func cmdEdit(e *env, args []string) error {
	var of onlineFlags
	fs := e.onlineFlagSet("edit", &of)
	if _, err := machineConfigArg("edit", args); err != nil {
		return err
	}
	if _, err := parseArgs(fs, args[1:], 0, 0); err != nil {
		return err
	}
	if _, ok := applyModes[of.mode]; !ok {
		return fmt.Errorf("%w: --mode %q: want auto, no-reboot or reboot", errUsage, of.mode)
	}
	api, done, err := e.dial()
	if err != nil {
		return err
	}
	defer done()
	current, err := e.currentConfig(api)
	if err != nil {
		return err
	}
	doc, err := config.Encode(current)
	if err != nil {
		return err
	}
	edited, filled, err := e.editUntilValid(append([]byte(editHeader), doc...), of.secretsFrom)
	if err != nil {
		return err
	}
	return e.applyWhole(api, edited, filled, of)
}

// editUntilValid opens shown in the editor until a save decodes, validates and has its
// secrets back; each bad save reopens with its errors above it. A save that changes
// nothing ends the edit.
func (e *env) editUntilValid(shown []byte, secretsFrom string) (*config.Config, []string, error) {
	for {
		saved, err := e.runEditor(shown)
		if err != nil {
			return nil, nil, err
		}
		if bytes.Equal(saved, shown) {
			return nil, nil, errEditCancelled
		}
		cfg, filled, err := completeConfig(saved, secretsFrom, "the edited config")
		if err == nil {
			return cfg, filled, nil
		}
		shown = withErrors(saved, err)
	}
}

// withErrors is doc with the errors of its last save as comments on top, replacing any
// from an earlier save.
func withErrors(doc []byte, err error) []byte {
	var b bytes.Buffer
	b.WriteString("# kilnctl: the config was not applied; fix these and save again:\n")
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(&b, "#   %s\n", line)
	}
	body := doc
	for _, line := range bytes.SplitAfter(doc, []byte("\n")) {
		if !bytes.HasPrefix(line, []byte("# kilnctl: ")) && !bytes.HasPrefix(line, []byte("#   ")) {
			break
		}
		body = body[len(line):]
	}
	b.Write(body)
	return b.Bytes()
}

// runEditor writes text to a temporary file (which never holds a secret: the config is
// redacted), runs $KILN_EDITOR, $VISUAL or $EDITOR (else vi) on it, and returns the file as saved.
func (e *env) runEditor(text []byte) ([]byte, error) {
	f, err := os.CreateTemp("", "kilnctl-edit-*.yaml")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(text); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	editor := editorCommand()
	cmd := exec.CommandContext(e.ctx, editor[0], append(editor[1:], f.Name())...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = e.stdin, e.stdout, e.stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("editor %q: %w (nothing was applied)", strings.Join(editor, " "), err)
	}
	return os.ReadFile(f.Name())
}

// editorCommand is the editor and its arguments, as kubectl reads them.
func editorCommand() []string {
	for _, name := range []string{"KILN_EDITOR", "VISUAL", "EDITOR"} {
		if words := strings.Fields(os.Getenv(name)); len(words) > 0 {
			return words
		}
	}
	return []string{"vi"}
}
