package machineapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/bootloader/entry"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/upgrade"
)

// Upgrades is what Upgrade and Rollback need from machined: where an image is received,
// the ESP, and how to report and reboot. The checks and the writes are package upgrade's;
// this file only moves bytes from the stream to it and its answers back.
type Upgrades struct {
	// TempDir receives an image while it arrives: a directory on EPHEMERAL (/var), so
	// that neither the ESP nor PID 1's heap holds a partial upload. Every path removes
	// the file before the call returns.
	TempDir string
	// OpenESP makes the ESP available (mounts it) and returns what upgrade.Verify reads
	// from the running machine; done releases it.
	OpenESP func() (env upgrade.Env, done func(), err error)
	// Record changes runtime/BootStatus.
	Record func(change func(*resources.BootStatusSpec))
	// Reboot asks machined for a reboot through its power path (the firmware runs again,
	// so it checks the new UKI itself).
	Reboot func(reason string)
	// Fetch GETs an https URL for the url option; nil is fetchHTTPS.
	Fetch func(ctx context.Context, url string) (io.ReadCloser, error)
	// Now stamps an attempt; nil is time.Now.
	Now func() time.Time
}

// Upgrade receives a UKI (options first, then chunks, or a URL the node fetches), has
// package upgrade verify and install it, reports it and, unless staged, reboots into it.
// It holds upgrade.Lock from the first byte to the end: a second Upgrade or a Rollback
// meanwhile is refused, not queued.
func (s *Server) Upgrade(stream machine.MachineService_UpgradeServer) error {
	u := s.Upgrades
	if u == nil {
		return errNotYet
	}
	who := caller(stream.Context())
	release, err := upgrade.Lock()
	if err != nil {
		return upgradeStatus(err)
	}
	defer release()
	first, err := stream.Recv()
	if err != nil {
		return streamStatus(err)
	}
	opts := first.GetOptions()
	if opts == nil {
		return status.Error(codes.InvalidArgument, "upgrade: the first message must hold the options, not a chunk")
	}
	s.Log.WithField("caller", who).WithField("url", opts.GetUrl()).Info("upgrade started")
	began := time.Now()
	image, err := u.receive(stream, opts)
	if err == nil {
		took := upgradeTimes{receive: time.Since(began)}
		var resp *machine.UpgradeResponse
		if resp, err = u.install(image, opts, &took); err == nil {
			return s.installed(stream, u, resp, who, took)
		}
	}
	s.refused(u, "upgrade", who, err)
	if errors.Is(err, errSHA256) {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return upgradeStatus(err)
}

// installed reports an installed UKI, answers, and then reboots unless it was staged.
func (s *Server) installed(stream machine.MachineService_UpgradeServer, u *Upgrades, resp *machine.UpgradeResponse, who string, took upgradeTimes) error {
	result := resources.UpgradeStaged
	if resp.Reboot {
		result = resources.UpgradeInstalled
	}
	fields := map[string]string{"version": resp.Version, "entry": resp.Entry, "sha256": resp.Sha256,
		"verifiedBy": resp.VerifiedBy, "standby": resp.Standby, "caller": who}
	took.addTo(fields)
	s.Log.WithField("caller", who).WithField("entry", resp.Entry).WithField("reboot", resp.Reboot).Warn("upgrade installed")
	s.emit(events.Event{Type: events.TypeInfo, Name: "upgrade", State: result, Fields: fields})
	u.record(resources.UpgradeAttempt{Version: resp.Version, Entry: resp.Entry, Result: result}, resp.Standby)
	if err := stream.SendAndClose(resp); err != nil {
		return err // the image is installed; without the answer the caller sees a failure and may retry
	}
	if resp.Reboot {
		u.Reboot("API Upgrade to " + resp.Version)
	}
	return nil
}

// refused reports a refusal (or a failure) of an Upgrade or a Rollback.
func (s *Server) refused(u *Upgrades, what, who string, err error) {
	s.Log.WithField("caller", who).WithError(err).Warn(what + " refused")
	s.emit(events.Event{Type: events.TypeInfo, Name: what, State: resources.UpgradeRefused, Error: err.Error(), Fields: map[string]string{"caller": who}})
	u.record(resources.UpgradeAttempt{Result: resources.UpgradeRefused, Error: err.Error()}, "")
}

func (s *Server) emit(e events.Event) {
	if s.EventSink != nil {
		s.EventSink.Emit(e)
	}
}

// record publishes an attempt, and the standby it leaves when known.
func (u *Upgrades) record(a resources.UpgradeAttempt, standby string) {
	if u.Record == nil {
		return
	}
	a.Time = time.Now()
	if u.Now != nil {
		a.Time = u.Now()
	}
	u.Record(func(b *resources.BootStatusSpec) {
		b.LastUpgrade = &a
		if standby != "" {
			b.Standby, b.StandbyVersion = standby, versionOf(standby)
		}
	})
}

// errSHA256 is a mismatch between the image and the SHA-256 the caller gave.
var errSHA256 = errors.New("upgrade: sha256")

// receive copies the image into a temporary file in TempDir, bounded by
// upgrade.MaxImageSize, checks the SHA-256 if one was given, and reads it back. The
// file is gone when it returns, whatever happened (a cut stream, a refusal).
func (u *Upgrades) receive(stream machine.MachineService_UpgradeServer, opts *machine.UpgradeOptions) ([]byte, error) {
	want, err := wantSHA256(opts)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(u.TempDir, 0o700); err != nil {
		return nil, fmt.Errorf("upgrade: receive the image on EPHEMERAL: %w", err)
	}
	f, err := os.CreateTemp(u.TempDir, "upgrade-*.efi")
	if err != nil {
		return nil, fmt.Errorf("upgrade: receive the image on EPHEMERAL: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	sum := sha256.New()
	w := &limitedWriter{w: io.MultiWriter(f, sum), left: upgrade.MaxImageSize}
	if opts.GetUrl() != "" {
		err = u.fetch(stream.Context(), opts.GetUrl(), w)
	} else {
		err = receiveChunks(stream, w)
	}
	if err != nil {
		return nil, err
	}
	if got := sum.Sum(nil); want != nil && !bytes.Equal(got, want) {
		return nil, fmt.Errorf("%w: the image's SHA-256 is %x, the request says %x", errSHA256, got, want)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return upgrade.ReadImage(f, 0)
}

func wantSHA256(opts *machine.UpgradeOptions) ([]byte, error) {
	h := strings.TrimSpace(opts.GetSha256())
	if h == "" {
		if opts.GetUrl() != "" {
			return nil, fmt.Errorf("%w: an upgrade from a URL needs the image's SHA-256 (kilnctl upgrade --sha256)", errSHA256)
		}
		return nil, nil
	}
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("%w: %q is not a SHA-256 in hex (64 digits)", errSHA256, h)
	}
	return b, nil
}

// receiveChunks writes the stream's chunks to w until the client half-closes.
func receiveChunks(stream machine.MachineService_UpgradeServer, w io.Writer) error {
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if msg.GetOptions() != nil {
			return status.Error(codes.InvalidArgument, "upgrade: options may come only in the first message")
		}
		if _, err := w.Write(msg.GetChunk()); err != nil {
			return err
		}
	}
}

// fetch GETs an https URL into w.
func (u *Upgrades) fetch(ctx context.Context, rawURL string, w io.Writer) error {
	parsed, err := url.Parse(rawURL)
	if err != nil || parsed.Scheme != "https" || parsed.Host == "" {
		return status.Errorf(codes.InvalidArgument, "upgrade: url %q: the node fetches only https URLs", rawURL)
	}
	get := u.Fetch
	if get == nil {
		get = fetchHTTPS
	}
	body, err := get(ctx, rawURL)
	if err != nil {
		return status.Errorf(codes.Unavailable, "upgrade: fetch %s: %v", rawURL, err)
	}
	defer body.Close()
	if _, err := io.Copy(w, body); err != nil {
		return err
	}
	return nil
}

// fetchTimeout bounds a download of the largest image on a slow link.
const fetchTimeout = 15 * time.Minute

func fetchHTTPS(ctx context.Context, rawURL string) (io.ReadCloser, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	return cancelOnClose{resp.Body, cancel}, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error { err := c.ReadCloser.Close(); c.cancel(); return err }

// limitedWriter refuses (CheckSize) the write that would pass left bytes.
type limitedWriter struct {
	w    io.Writer
	left int64
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.left {
		return 0, &upgrade.Error{Check: upgrade.CheckSize,
			Err: fmt.Errorf("%w: the stream passed %d bytes", upgrade.ErrTooLarge, upgrade.MaxImageSize)}
	}
	l.left -= int64(len(p))
	return l.w.Write(p)
}

// upgradeTimes is how long each step of an installed upgrade took, reported in its event
// (the power-cut trials and docs/benchmarks.md read them).
type upgradeTimes struct {
	receive time.Duration // the stream or the download, into TempDir, and read back
	verify  time.Duration // OpenESP and upgrade.Verify
	write   time.Duration // upgrade.Install: prune, write, fsync, read back, rename
}

// addTo adds the durations to an event's fields, in seconds.
func (d upgradeTimes) addTo(fields map[string]string) {
	seconds := func(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) }
	fields["receiveSeconds"] = seconds(d.receive)
	fields["verifySeconds"] = seconds(d.verify)
	fields["writeSeconds"] = seconds(d.write)
}

// install verifies the image against the running machine and writes it to the ESP,
// timing both steps into took.
func (u *Upgrades) install(image []byte, opts *machine.UpgradeOptions, took *upgradeTimes) (*machine.UpgradeResponse, error) {
	began := time.Now()
	env, done, err := u.OpenESP()
	if err != nil {
		return nil, err
	}
	defer done()
	v, err := upgrade.Verify(image, env, upgrade.Options{AllowDowngrade: opts.GetAllowDowngrade(), ForcePCRKeyChange: opts.GetForcePcrKeyChange()})
	if err != nil {
		return nil, err
	}
	took.verify = time.Since(began)
	began = time.Now()
	name, err := upgrade.Install(filepath.Join(env.ESPDir, upgrade.LinuxDir), v)
	if err != nil {
		return nil, err
	}
	took.write = time.Since(began)
	resp := &machine.UpgradeResponse{Entry: name, Version: v.Version, VerifiedBy: string(v.Root), Reboot: !opts.GetStage(),
		Sha256: hex.EncodeToString(v.SHA256[:]), Standby: v.Booted, Warnings: warnings(v, env)}
	return resp, nil
}

// warnings are what the caller should know about an installed image.
func warnings(v *upgrade.Verified, env upgrade.Env) []string {
	var out []string
	if v.Root == upgrade.RootESPKeys {
		out = append(out, "Secure Boot is off: the signature was checked against the ESP's db certificate ("+upgrade.DBAuthESP+"), not the firmware's")
	}
	if v.Downgrade {
		out = append(out, fmt.Sprintf("downgrade: %s is older than the running %s", v.Version, env.RunningVersion))
	}
	if v.PCRKeyChanged {
		out = append(out, "the new UKI's .pcrpkey differs from the running one's: STATE will not unseal after the reboot (its config and PKI are lost unless you roll back)")
	}
	return out
}

// Rollback marks the booted UKI bad so that the previous good one boots next, reports
// it, and reboots. It is refused (FailedPrecondition) without a previous good UKI.
func (s *Server) Rollback(ctx context.Context, _ *machine.RollbackRequest) (*machine.RollbackResponse, error) {
	u := s.Upgrades
	if u == nil {
		return nil, errNotYet
	}
	who := caller(ctx)
	release, err := upgrade.Lock()
	if err != nil {
		return nil, upgradeStatus(err)
	}
	defer release()
	resp, err := u.rollback()
	if err != nil {
		s.refused(u, "rollback", who, err)
		return nil, upgradeStatus(err)
	}
	s.Log.WithField("caller", who).WithField("next", resp.Next).Warn("rollback: booted UKI marked bad")
	s.emit(events.Event{Type: events.TypeInfo, Name: "rollback", State: resources.UpgradeRolledBack,
		Fields: map[string]string{"markedBad": resp.MarkedBad, "next": resp.Next, "version": resp.NextVersion, "caller": who}})
	u.record(resources.UpgradeAttempt{Version: resp.NextVersion, Entry: resp.MarkedBad, Result: resources.UpgradeRolledBack}, "")
	u.Reboot("API Rollback to " + resp.NextVersion)
	return resp, nil
}

func (u *Upgrades) rollback() (*machine.RollbackResponse, error) {
	env, done, err := u.OpenESP()
	if err != nil {
		return nil, err
	}
	defer done()
	linuxDir := filepath.Join(env.ESPDir, upgrade.LinuxDir)
	before, err := upgrade.Inspect(linuxDir, env.Booted)
	if err != nil {
		return nil, err
	}
	bad, err := upgrade.MarkBad(linuxDir, env.Booted)
	if err != nil {
		return nil, err
	}
	return &machine.RollbackResponse{MarkedBad: bad, Next: before.Standby, NextVersion: versionOf(before.Standby)}, nil
}

// versionOf is the version in a Kiln UKI's file name, "" for another name.
func versionOf(name string) string {
	e, err := entry.Parse(name)
	if err != nil {
		return ""
	}
	return e.Version
}

// upgradeStatus maps package upgrade's refusals to status codes: a bad image is
// InvalidArgument, a refusal because of the machine's state or the caller's choices is
// FailedPrecondition. The message names the check (upgrade.Error's text does).
func upgradeStatus(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	var refusal *upgrade.Error
	if !errors.As(err, &refusal) {
		return streamStatus(err)
	}
	code := codes.FailedPrecondition
	switch refusal.Check {
	case upgrade.CheckSize, upgrade.CheckPE, upgrade.CheckSignature, upgrade.CheckOSRel, upgrade.CheckCmdline:
		code = codes.InvalidArgument
	}
	return status.Error(code, err.Error()+"; nothing on the ESP changed")
}

// streamStatus is the status of a failure that is not a refusal: a cut stream, a
// cancelled call, an I/O error.
func streamStatus(err error) error {
	if s, ok := status.FromError(err); ok {
		return s.Err()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	return status.Error(codes.Internal, err.Error())
}
