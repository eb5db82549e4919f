package configstate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/internal/httpget"
)

// Where the machine config comes from (DESIGN.md "PID 1", LoadConfig), in this order.
const (
	// File is the config persisted on STATE (relative to STATE's mount point).
	File = "config.yaml"
	// FwCfg is QEMU's `-fw_cfg name=opt/kiln/config,file=...`, seen through
	// CONFIG_FW_CFG_SYSFS.
	FwCfg = "/sys/firmware/qemu_fw_cfg/by_name/opt/kiln/config/raw"
	// URLParam names the kernel parameter with the config's URL: https, or plain http
	// with the file's SHA-256 pinned in a #sha256= fragment (configurl.go says why).
	URLParam = "kiln.config"
)

// ErrNoConfig means no source holds a config: the node waits in maintenance mode.
var ErrNoConfig = errors.New("no machine config")

// Loaded is a valid config and where it came from.
type Loaded struct {
	Config *config.Config
	Data   []byte // as the source had it: its digest identifies the config
	Source string // one of the resources.ConfigSource constants
}

// Sources are where Find looks, and what it needs to reach them.
type Sources struct {
	StateDir string // STATE's mount point
	FwCfg    string // FwCfg unless a test says otherwise
	URL      string // the kiln.config= value, "" when absent
	// Network brings the default network up before the URL is fetched.
	Network func(ctx context.Context) error
	Log     logrus.FieldLogger
}

// Path is the config on STATE.
func Path(stateDir string) string { return filepath.Join(stateDir, File) }

// Find tries STATE, the URL and fw_cfg, in that order; ErrNoConfig if none has a config.
func Find(ctx context.Context, src Sources) (Loaded, error) {
	path := Path(src.StateDir)
	data, err := readLimited(path)
	if err == nil {
		return decodeFrom(data, resources.ConfigSourceState, "the config on STATE ("+path+") is invalid; reset the node or re-apply")
	}
	if !errors.Is(err, os.ErrNotExist) {
		return Loaded{}, err
	}
	if src.URL != "" {
		return fromURL(ctx, src)
	}
	data, err = readLimited(src.FwCfg)
	if err == nil {
		return decodeFrom(data, resources.ConfigSourceFwCfg, "config from fw_cfg opt/kiln/config")
	}
	if !errors.Is(err, os.ErrNotExist) {
		// A config is there but unreadable or too large: waiting in maintenance mode
		// instead would hide why the node ignored it.
		return Loaded{}, fmt.Errorf("config from fw_cfg opt/kiln/config: %w", err)
	}
	return Loaded{}, ErrNoConfig
}

func fromURL(ctx context.Context, src Sources) (Loaded, error) {
	// Refuse a bad URL before the network comes up: it is a mistake in the signed command
	// line that no waiting can fix.
	u, err := parseConfigURL(src.URL)
	if err != nil {
		return Loaded{}, err
	}
	if err := src.Network(ctx); err != nil {
		return Loaded{}, err
	}
	data, err := fetch(ctx, &http.Client{Timeout: 30 * time.Second}, u, src.Log)
	if err != nil {
		return Loaded{}, err
	}
	return decodeFrom(data, resources.ConfigSourceURL, "config from "+src.URL)
}

func decodeFrom(data []byte, source, where string) (Loaded, error) {
	cfg, err := Decode(data)
	if err != nil {
		return Loaded{}, fmt.Errorf("%s: %w", where, err)
	}
	return Loaded{Config: cfg, Data: data, Source: source}, nil
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAtMost(f, path)
}

// readAtMost reads r up to one byte past config.MaxSize, so that an oversized config is
// refused without being held whole, and names where it came from.
func readAtMost(r io.Reader, where string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, config.MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", where, err)
	}
	if err := config.CheckSize(len(data)); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return data, nil
}

// fetch downloads the config, retrying with backoff for up to two minutes: the network
// or the config server may come up after the node. A body that does not match the URL's
// pin is not retried: it is the wrong config, not a late one.
func fetch(ctx context.Context, client *http.Client, u configURL, log logrus.FieldLogger) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	client = u.guardRedirects(client)
	delay := time.Second
	for {
		data, err := fetchOnce(ctx, client, u.get)
		if err == nil {
			return data, u.check(data)
		}
		// A refused redirect or an oversized config: waiting will not change either.
		if errors.Is(err, ErrConfigURL) || errors.Is(err, config.ErrTooLarge) {
			return nil, err
		}
		log.WithError(err).WithField("url", u.get).Warnf("config download failed; retrying in %s", delay)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("config from %s: %w (last error: %w)", u.get, ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 15*time.Second)
	}
}

func fetchOnce(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	return httpget.Get(ctx, client, url, func(r io.Reader) ([]byte, error) { return readAtMost(r, "GET "+url) })
}
