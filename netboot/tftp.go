package netboot

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/pin/tftp/v3"
)

// TFTP transfer settings. The block size caps what a client may negotiate (RFC 2348);
// pin/tftp clamps it further to the path MTU. A client that stops acknowledging is
// given up after tftpRetries timeouts.
const (
	tftpMaxBlockSize = 65456
	tftpTimeout      = 5 * time.Second
	tftpRetries      = 5
)

var (
	errNotFound = errors.New("file not found")
	errReadOnly = errors.New("read-only server")
)

// tftpServer serves the file set read-only (RFC 1350, with blksize and tsize: RFC 2348,
// RFC 2349).
type tftpServer struct {
	files map[string]*servedFile
	logf  func(format string, args ...any)
	srv   *tftp.Server
}

func newTFTP(files map[string]*servedFile, logf func(format string, args ...any)) *tftpServer {
	t := &tftpServer{files: files, logf: logf}
	t.srv = tftp.NewServer(t.read, t.write)
	t.srv.SetBlockSize(tftpMaxBlockSize)
	t.srv.SetTimeout(tftpTimeout)
	t.srv.SetRetries(tftpRetries)
	return t
}

// serve runs until shutdown; conn is closed by then.
func (t *tftpServer) serve(conn net.PacketConn) error { return t.srv.Serve(conn) }

// shutdown stops taking requests and waits for the transfers under way.
func (t *tftpServer) shutdown() { t.srv.Shutdown() }

func (t *tftpServer) read(name string, rf io.ReaderFrom) error {
	start := time.Now()
	ip := "-"
	if ot, ok := rf.(tftp.OutgoingTransfer); ok {
		addr := ot.RemoteAddr()
		ip = addr.IP.String()
	}
	f, reason := lookup(t.files, name)
	if f == nil {
		t.logf("pxe: tftp refuse ip=%s file=%q reason=%q", ip, name, reason)
		return errNotFound
	}
	if ot, ok := rf.(tftp.OutgoingTransfer); ok {
		ot.SetSize(int64(len(f.data)))
	}
	n, err := rf.ReadFrom(f.reader())
	took := time.Since(start).Round(time.Millisecond)
	if err != nil {
		t.logf("pxe: tftp error ip=%s file=%s bytes=%d took=%s reason=%q", ip, f.name, n, took, err.Error())
		return err
	}
	t.logf("pxe: tftp sent ip=%s file=%s bytes=%d took=%s", ip, f.name, n, took)
	return nil
}

func (t *tftpServer) write(name string, wt io.WriterTo) error {
	ip := "-"
	if it, ok := wt.(tftp.IncomingTransfer); ok {
		addr := it.RemoteAddr()
		ip = addr.IP.String()
	}
	t.logf("pxe: tftp refuse ip=%s file=%q reason=%q", ip, name, "write request on a read-only server")
	return errReadOnly
}

// lookup finds a file of the set by its exact name, or says why a name is refused.
func lookup(files map[string]*servedFile, name string) (*servedFile, string) {
	switch {
	case strings.HasPrefix(name, "/"):
		return nil, "absolute path"
	case strings.Contains(name, "\\"):
		return nil, "backslash in name"
	case strings.Contains(name, ".."):
		return nil, "path traversal"
	}
	f, ok := files[name]
	if !ok {
		return nil, fmt.Sprintf("not served (the set is %s)", names(files))
	}
	return f, ""
}

func names(files map[string]*servedFile) string {
	var list []string
	for n := range files {
		list = append(list, n)
	}
	slices.Sort(list)
	return strings.Join(list, ",")
}
