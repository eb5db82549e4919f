package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/kiln-os/kiln/api/machine"
)

const (
	// chunkSize is how much of the UKI one Upgrade message carries: well under apid's and
	// machined's 4 MiB message limit.
	chunkSize = 1 << 20
	// maxImageSize is the node's limit (initd/upgrade.MaxImageSize), checked here too so
	// that a file too large fails before a byte is sent.
	maxImageSize = 256 << 20
)

// pollInterval is how often --wait asks whether the node is back; tests shorten it.
var pollInterval = 2 * time.Second

type upgradeFlags struct {
	image, sha256 string
	stage         bool
	allowDown     bool
	forcePCRKey   bool
	wait          bool
	waitTimeout   time.Duration
}

func cmdUpgrade(e *env, args []string) error {
	var o upgradeFlags
	fs := e.flagSet("upgrade")
	fs.StringVar(&o.image, "image", "", "the new UKI: a file, or an https URL the node fetches itself")
	fs.StringVar(&o.sha256, "sha256", "", "the image's SHA-256 in hex (required with a URL)")
	fs.BoolVar(&o.stage, "stage", false, "write the UKI now, boot it at the next reboot")
	fs.BoolVar(&o.allowDown, "allow-downgrade", false, "install a version older than the running one")
	fs.BoolVar(&o.forcePCRKey, "force-pcr-key-change", false, "install a UKI signed for another PCR key (STATE will not unseal)")
	fs.BoolVar(&o.wait, "wait", false, "wait for the node to reboot and report the version it came back on")
	fs.DurationVar(&o.waitTimeout, "wait-timeout", 15*time.Minute, "how long --wait waits for the node to come back")
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	opts, err := o.options()
	if err != nil {
		return err
	}
	var image io.Reader // nil: the node fetches opts.Url itself
	var size int64
	if opts.Url == "" {
		f, n, err := openImage(o.image)
		if err != nil {
			return err
		}
		defer f.Close()
		image, size = f, n
	}
	api, done, err := e.dial()
	if err != nil {
		return err
	}
	resp, err := e.sendUpgrade(api, opts, image, size)
	done()
	if err != nil {
		return err
	}
	e.printUpgrade(resp)
	if !o.wait || !resp.GetReboot() {
		return nil
	}
	st, err := e.waitReboot(o.waitTimeout)
	if err != nil {
		return err
	}
	return e.reportBack(st, resp.GetVersion())
}

// options checks the flags and turns them into the first Upgrade message.
func (o upgradeFlags) options() (*machine.UpgradeOptions, error) {
	opts := &machine.UpgradeOptions{Stage: o.stage, AllowDowngrade: o.allowDown, ForcePcrKeyChange: o.forcePCRKey, Sha256: strings.ToLower(o.sha256)}
	switch {
	case o.image == "":
		return nil, fmt.Errorf("%w: upgrade needs --image FILE or --image https://...", errUsage)
	case strings.HasPrefix(o.image, "http://"):
		return nil, fmt.Errorf("%w: upgrade --image %s: the node fetches only https URLs", errUsage, o.image)
	case strings.HasPrefix(o.image, "https://"):
		if o.sha256 == "" {
			return nil, fmt.Errorf("%w: upgrade --image %s: a URL needs --sha256 HEX, the image's SHA-256", errUsage, o.image)
		}
		opts.Url = o.image
	}
	if o.sha256 != "" {
		if b, err := hex.DecodeString(o.sha256); err != nil || len(b) != 32 {
			return nil, fmt.Errorf("%w: upgrade --sha256 %q: want 64 hex digits", errUsage, o.sha256)
		}
	}
	if o.stage && o.wait {
		return nil, fmt.Errorf("%w: upgrade --stage --wait: a staged upgrade does not reboot, there is nothing to wait for", errUsage)
	}
	return opts, nil
}

// openImage opens a UKI file and refuses one larger than the node accepts.
func openImage(path string) (*os.File, int64, error) {
	return openUpload("upgrade --image", path, 1, maxImageSize, "256 MiB")
}

// openUpload opens a file to send to the node, refusing what the node would refuse: not
// a regular file, or a size outside [least, most] (limit names most for people). what
// names the command in errors.
func openUpload(what, path string, least, most int64, limit string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", what, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("%s: %w", what, err)
	}
	if !fi.Mode().IsRegular() || fi.Size() < least || fi.Size() > most {
		f.Close()
		return nil, 0, fmt.Errorf("%s %s: %d bytes, not a regular file of %d bytes to %s (the node's limit)", what, path, fi.Size(), least, limit)
	}
	return f, fi.Size(), nil
}

// sendUpgrade streams the options and then the image in chunkSize pieces.
func (e *env) sendUpgrade(api machine.MachineServiceClient, opts *machine.UpgradeOptions, image io.Reader, size int64) (*machine.UpgradeResponse, error) {
	stream, err := api.Upgrade(e.ctx)
	if err != nil {
		return nil, err
	}
	if err := stream.Send(&machine.UpgradeRequest{Payload: &machine.UpgradeRequest_Options{Options: opts}}); err != nil {
		return stream.CloseAndRecv() // the node ended the call: its status says why
	}
	if image != nil {
		if err := e.sendChunks(image, size, func(chunk []byte) error {
			return stream.Send(&machine.UpgradeRequest{Payload: &machine.UpgradeRequest_Chunk{Chunk: chunk}})
		}); err != nil {
			return nil, fmt.Errorf("upgrade --image: %w", err)
		}
	}
	return stream.CloseAndRecv()
}

// sendChunks reads r to its end and sends it in chunkSize pieces, showing progress
// against size. It returns read errors only: a failed send ends it quietly, and the
// caller's CloseAndRecv has the node's status, which says why.
func (e *env) sendChunks(r io.Reader, size int64, send func([]byte) error) error {
	progress := e.progress(size)
	defer progress(-1)
	buf := make([]byte, chunkSize)
	var sent int64
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			if send(buf[:n]) != nil {
				return nil
			}
			sent += int64(n)
			progress(sent)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// progress returns a function that shows how much was sent, on a terminal only; -1
// ends the line.
func (e *env) progress(total int64) func(sent int64) {
	f, ok := e.stderr.(*os.File)
	if !ok || !isTerminal(f) || total <= 0 {
		return func(int64) {}
	}
	return func(sent int64) {
		if sent < 0 {
			fmt.Fprintln(f)
			return
		}
		const width = 30
		done := int(sent * width / total)
		fmt.Fprintf(f, "\rsending [%s%s] %d/%d MiB", strings.Repeat("#", done), strings.Repeat(" ", width-done), sent>>20, total>>20)
	}
}

func (e *env) printUpgrade(resp *machine.UpgradeResponse) {
	fmt.Fprintf(e.stdout, "installed %s (version %s, signature verified against the %s, sha256 %s)\n",
		resp.GetEntry(), resp.GetVersion(), resp.GetVerifiedBy(), resp.GetSha256())
	for _, w := range resp.GetWarnings() {
		fmt.Fprintf(e.stdout, "warning: %s\n", w)
	}
	if resp.GetReboot() {
		fmt.Fprintf(e.stdout, "the node reboots into %s; it falls back to %s if that boot fails\n", resp.GetVersion(), resp.GetStandby())
	} else {
		fmt.Fprintf(e.stdout, "staged: the node boots %s at its next reboot (kilnctl reboot)\n", resp.GetVersion())
	}
}

func cmdRollback(e *env, args []string) error {
	fs := e.flagSet("rollback")
	wait := fs.Bool("wait", false, "wait for the node to reboot and report the version it came back on")
	timeout := fs.Duration("wait-timeout", 15*time.Minute, "how long --wait waits for the node to come back")
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	api, done, err := e.dial()
	if err != nil {
		return err
	}
	resp, err := api.Rollback(e.ctx, &machine.RollbackRequest{})
	done()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "marked the booted UKI bad (%s); the node reboots into %s (version %s)\n", resp.GetMarkedBad(), resp.GetNext(), resp.GetNextVersion())
	if !*wait {
		return nil
	}
	st, err := e.waitReboot(*timeout)
	if err != nil {
		return err
	}
	return e.reportBack(st, resp.GetNextVersion())
}

// bootStatus is the part of runtime/BootStatus and runtime/MachineStatus that --wait
// reads (their JSON; kilnctl does not import the node's types).
type bootStatus struct {
	Booted         string `json:"booted"`
	Version        string `json:"version"`
	Standby        string `json:"standby"`
	StandbyVersion string `json:"standbyVersion"`
	FellBack       bool   `json:"fellBack"`
	FailedEntry    string `json:"failedEntry"`
	FailedVersion  string `json:"failedVersion"`
}

// waitReboot waits until the node has gone down and come back ready, and returns its
// BootStatus.
func (e *env) waitReboot(timeout time.Duration) (bootStatus, error) {
	ctx, cancel := context.WithTimeout(e.ctx, timeout)
	defer cancel()
	fmt.Fprintf(e.stderr, "waiting up to %s for the node to reboot and become ready\n", timeout)
	wentDown := false
	for {
		st, ready, err := e.probe(ctx)
		switch {
		case err != nil && !expired(ctx): // a probe cut by our own deadline says nothing
			wentDown = true
		case wentDown && ready:
			return st, nil
		}
		select {
		case <-ctx.Done():
			if e.ctx.Err() != nil {
				return bootStatus{}, e.ctx.Err()
			}
			if !wentDown {
				return bootStatus{}, fmt.Errorf("the node did not go down within %s (--wait-timeout)", timeout)
			}
			return bootStatus{}, fmt.Errorf("the node went down and was not back and ready within %s (--wait-timeout); its console or kilnctl events say why", timeout)
		case <-time.After(pollInterval):
		}
	}
}

// expired reports whether ctx has ended or reached its deadline. It looks at the clock as
// well as ctx.Err(), because a gRPC call can fail with DeadlineExceeded a moment before the
// context's own timer marks it done.
func expired(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

// probe asks the node, with a short deadline, whether it is ready and what it booted.
func (e *env) probe(ctx context.Context) (bootStatus, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pe := *e
	pe.ctx = ctx
	api, done, err := pe.dial()
	if err != nil {
		return bootStatus{}, false, err
	}
	defer done()
	var machineStatus struct {
		Ready bool `json:"ready"`
	}
	if err := getSpec(ctx, api, "MachineStatus", "machine", &machineStatus); err != nil {
		return bootStatus{}, false, err
	}
	var st bootStatus
	if !machineStatus.Ready {
		return st, false, nil
	}
	return st, true, getSpec(ctx, api, "BootStatus", "boot", &st)
}

func getSpec(ctx context.Context, api machine.MachineServiceClient, typ, id string, spec any) error {
	res, err := api.ResourceGet(ctx, &machine.ResourceGetRequest{Namespace: "runtime", Type: typ, Id: id})
	if err != nil {
		return err
	}
	if err := json.Unmarshal(res.GetSpecJson(), spec); err != nil {
		return fmt.Errorf("runtime/%s: %w", typ, err)
	}
	return nil
}

// reportBack prints what the node came back on, and fails if it is not want.
func (e *env) reportBack(st bootStatus, want string) error {
	fmt.Fprintf(e.stdout, "the node is back on %s (booted %s; standby %s %s)\n", st.Version, st.Booted, st.Standby, st.StandbyVersion)
	if st.FellBack {
		fmt.Fprintf(e.stdout, "fell back: %s (version %s) did not boot\n", st.FailedEntry, st.FailedVersion)
	} else {
		fmt.Fprintln(e.stdout, "fell back: no")
	}
	if st.Version != want {
		return fmt.Errorf("the node came back on %s, not %s", st.Version, want)
	}
	return nil
}
