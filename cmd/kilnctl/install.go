package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/kiln-os/kiln/config"
)

// cmdInstall runs "install --disk DEV [--wipe]": it sets the config's machine.install and
// applies the config. A node booted live (ISO or network) installs to the disk and reboots
// from it; the node refuses a disk that holds data unless --wipe.
//
// With -f the config comes from a file (a node in maintenance mode has none to read);
// without it the node's own config is patched, and the secrets it hides come back from
// --secrets-from, as with patch.
func cmdInstall(e *env, args []string) error {
	var of onlineFlags
	fs := e.onlineFlagSet("install", &of)
	disk := fs.String("disk", "", "the target disk, e.g. /dev/vda (machine.install.disk)")
	wipe := fs.Bool("wipe", false, "erase the disk first, even when it holds a partition table or a file system")
	file := fs.String("f", "", "the machine config to install with (default: the node's own)")
	fs.StringVar(file, "file", "", "the machine config to install with")
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	if *disk == "" {
		return fmt.Errorf("%w: install needs --disk DEV (e.g. /dev/vda)", errUsage)
	}
	patch, err := installPatch(*disk, *wipe)
	if err != nil {
		return err
	}
	if *file == "" {
		return e.patchNode([]namedPatch{patch}, of)
	}
	if of.secretsFrom != "" {
		return fmt.Errorf("%w: --secrets-from is for the node's own config; -f %s is sent whole", errUsage, *file)
	}
	doc, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	if doc, err = applyPatches(doc, []namedPatch{patch}); err != nil {
		return err
	}
	cfg, err := config.Decode(doc)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return fmt.Errorf("%s with --disk %s: %w", *file, *disk, err)
	}
	api, done, err := e.dial()
	if err != nil {
		return err
	}
	defer done()
	return e.applyWhole(api, cfg, nil, of)
}

// installPatch is the strategic merge patch that sets machine.install: the disk, and wipe
// (false clears a wipe the config had: the flag says what the operator wants now). A
// disk selector in the config is dropped: --disk names the one disk.
func installPatch(disk string, wipe bool) (namedPatch, error) {
	if !strings.HasPrefix(disk, "/dev/") {
		return namedPatch{}, fmt.Errorf("%w: --disk %q: want a device path under /dev, e.g. /dev/vda", errUsage, disk)
	}
	data, err := json.Marshal(map[string]any{"machine": map[string]any{"install": map[string]any{
		"disk": disk, "wipe": wipe, "diskSelector": nil, // null deletes the key
	}}})
	if err != nil {
		return namedPatch{}, err
	}
	return namedPatch{name: "--disk " + disk, data: data}, nil
}
