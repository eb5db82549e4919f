package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/kiln-os/kiln/netboot"
)

// defaultDB is the db certificate `kiln pxe serve` checks the UKI against when it exists
// and --db is not given: the keys directory the build signs with.
var defaultDB = filepath.Join("_keys", "db.crt")

// cmdPXE is `kiln pxe serve`: the lab's boot server for the build in --out (see
// package netboot). It logs one line per request to stderr and stops on SIGINT/SIGTERM.
func cmdPXE(ctx context.Context, args []string, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "serve" {
		return fmt.Errorf("%w: pxe takes the subcommand serve", errUsage)
	}
	flags := newFlagSet("pxe serve")
	var o netboot.Options
	flags.StringVar(&o.Interface, "interface", "", "link to serve on (required); its first IPv4 address is the server's")
	flags.StringVar(&o.Out, "out", "_out", "output directory of a build")
	flags.StringVar(&o.DB, "db", "", "db certificate (PEM) the UKI must verify against (default _keys/db.crt when it exists)")
	flags.BoolVar(&o.Proxy, "proxy", false, "ProxyDHCP beside an existing DHCP server: no addresses")
	flags.StringVar(&o.Range, "range", "", "full DHCP server leasing FROM-TO of the interface's subnet")
	flags.StringVar(&o.AllowMAC, "allow-mac", "", "answer only these MACs (comma-separated)")
	flags.IntVar(&o.HTTPPort, "http-port", 80, "HTTP port")
	flags.IntVar(&o.TFTPPort, "tftp-port", 69, "TFTP port")
	if err := parseFlags(flags, args[1:]); err != nil {
		return err
	}
	if o.DB == "" {
		if _, err := os.Stat(defaultDB); err == nil {
			o.DB = defaultDB
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("--db: %w", err)
		}
	}
	o.Logf = lineLogger(stderr)
	srv, err := netboot.Open(o)
	if err != nil {
		return err
	}
	return srv.Serve(ctx)
}

// lineLogger writes each line whole, from any goroutine.
func lineLogger(w io.Writer) func(format string, args ...any) {
	var mu sync.Mutex
	return func(format string, args ...any) {
		line := fmt.Sprintf(format, args...) + "\n"
		mu.Lock()
		defer mu.Unlock()
		io.WriteString(w, line)
	}
}
