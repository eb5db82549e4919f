package netboot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// leaseTime is the --range lease: long enough for a lab run, short enough that a
// machine gone for good frees its address within the hour.
const leaseTime = time.Hour

// Server is `kiln pxe serve` with every listener open: Open checks the input and binds
// the ports, Serve answers until its context ends.
type Server struct {
	iface              string
	addr               netip.Prefix
	proxy              bool
	uki                *servedFile
	logf               func(format string, args ...any)
	tftp               *tftpServer
	http               *http.Server
	dhcp               []*dhcpListener
	conns              []io.Closer // every socket, for closing
	tftpLn             net.PacketConn
	httpLn             net.Listener
	tftpPort, httpPort int
}

// Open checks o, loads and checks the UKI, and opens the TFTP, HTTP and DHCP sockets.
// Every error about the input is a *FlagError naming the flag at fault.
func Open(o Options) (*Server, error) {
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	s := &Server{iface: o.Interface, proxy: o.Proxy, logf: logf, tftpPort: o.TFTPPort, httpPort: o.HTTPPort}
	cfg, pool, err := s.configure(o)
	if err != nil {
		return nil, err
	}
	if err := s.listen(cfg, pool); err != nil {
		s.closeAll()
		return nil, err
	}
	return s, nil
}

// configure checks every flag and loads the UKI before any socket is opened.
func (s *Server) configure(o Options) (*dhcpConfig, *leases, error) {
	if err := checkMode(o); err != nil {
		return nil, nil, err
	}
	addr, err := serverAddr(o.Interface)
	if err != nil {
		return nil, nil, err
	}
	s.addr = addr
	var pool *leases
	if !o.Proxy {
		r, err := parseRange(o.Range, addr)
		if err != nil {
			return nil, nil, err
		}
		pool = newLeases(r, leaseTime)
	}
	allow, err := parseMACs(o.AllowMAC)
	if err != nil {
		return nil, nil, err
	}
	if err := checkPort("--http-port", o.HTTPPort); err != nil {
		return nil, nil, err
	}
	if err := checkPort("--tftp-port", o.TFTPPort); err != nil {
		return nil, nil, err
	}
	if s.uki, err = loadUKI(o.Out, o.DB); err != nil {
		return nil, nil, err
	}
	return &dhcpConfig{proxy: o.Proxy, server: addr, httpPort: o.HTTPPort, allow: allow}, pool, nil
}

// listen binds TFTP and HTTP to the server's address only, then DHCP to the interface.
func (s *Server) listen(cfg *dhcpConfig, pool *leases) error {
	files := map[string]*servedFile{s.uki.name: s.uki}
	host := s.addr.Addr().String()
	tftpLn, err := net.ListenPacket("udp4", net.JoinHostPort(host, strconv.Itoa(s.tftpPort)))
	if err != nil {
		return flagErr("--tftp-port", "%w", err)
	}
	s.tftpLn = tftpLn
	s.conns = append(s.conns, tftpLn)
	httpLn, err := net.Listen("tcp4", net.JoinHostPort(host, strconv.Itoa(s.httpPort)))
	if err != nil {
		return flagErr("--http-port", "%w", err)
	}
	s.httpLn = httpLn
	s.conns = append(s.conns, httpLn)
	for _, port := range []int{dhcpServerPort, pxeServerPort} {
		conn, err := listenDHCP(s.iface, port)
		if err != nil {
			return err
		}
		s.conns = append(s.conns, conn)
		s.dhcp = append(s.dhcp, &dhcpListener{conn: conn, port: port, cfg: cfg, leases: pool, logf: s.logf})
	}
	s.tftp = newTFTP(files, s.logf)
	s.http = newHTTP(files, s.logf)
	return nil
}

func (s *Server) closeAll() {
	for _, c := range s.conns {
		c.Close()
	}
}

// ReadyLine is the line Serve logs once every listener is up (see the package doc).
func (s *Server) ReadyLine() string {
	mode := "range"
	if s.proxy {
		mode = "proxy"
	}
	return fmt.Sprintf("pxe: serving %s (sha256 %s) on %s %s dhcp=%s tftp=:%d http=:%d",
		s.uki.name, s.uki.sha256, s.iface, s.addr, mode, s.tftpPort, s.httpPort)
}

// Serve answers DHCP, TFTP and HTTP requests until ctx ends, then closes every listener,
// waits for the transfers under way (each bounded by its timeouts) and returns nil. A
// listener that fails stops the others and its error is returned.
func (s *Server) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 2+len(s.dhcp))
	var wg sync.WaitGroup
	run := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				errs <- err
				cancel()
			}
		}()
	}
	run(func() error { return s.tftp.serve(s.tftpLn) })
	run(func() error {
		if err := s.http.Serve(s.httpLn); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
		return nil
	})
	for _, d := range s.dhcp {
		run(d.serve)
	}
	s.logf("%s", s.ReadyLine())
	<-ctx.Done()
	s.stop()
	wg.Wait()
	close(errs)
	return errors.Join(collect(errs)...)
}

// stop closes the listeners; transfers under way finish or time out.
func (s *Server) stop() {
	for _, d := range s.dhcp {
		d.conn.Close()
	}
	s.tftp.shutdown()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.http.Shutdown(shutdownCtx); err != nil {
		s.http.Close()
	}
	s.closeAll() // a listener whose server never got to run is closed here
}

// Close closes the listeners of a Server that is not serving (Serve closes its own).
func (s *Server) Close() error {
	s.closeAll()
	return nil
}

func collect(errs <-chan error) []error {
	var out []error
	for err := range errs {
		out = append(out, err)
	}
	return out
}
