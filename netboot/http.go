package netboot

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HTTP server timeouts: a client gets the headers in quickly, and a transfer of the
// UKI may take minutes on a slow or emulated network, but never forever.
const (
	httpReadHeaderTimeout = 10 * time.Second
	httpWriteTimeout      = 30 * time.Minute
	httpIdleTimeout       = time.Minute
)

// bootModTime is the Last-Modified of every served file: a fixed time, as the build
// that made the files records no other, so If-Modified-Since never matches falsely.
var bootModTime = time.Unix(0, 0)

// newHTTP serves the file set at "/<name>": GET and HEAD only, Range requests (RFC 9110
// 14) through http.ServeContent, no directory listing and no redirect.
func newHTTP(files map[string]*servedFile, logf func(format string, args ...any)) *http.Server {
	h := &httpFiles{files: files, logf: logf}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: httpReadHeaderTimeout,
		WriteTimeout:      httpWriteTimeout,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    16 << 10,
	}
}

type httpFiles struct {
	files map[string]*servedFile
	logf  func(format string, args ...any)
}

func (h *httpFiles) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	cw := &countingWriter{ResponseWriter: w, status: http.StatusOK}
	ip := clientIP(r.RemoteAddr)
	name, _ := strings.CutPrefix(r.URL.Path, "/")
	f, reason := lookup(h.files, name)
	switch {
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(cw, "method not allowed", http.StatusMethodNotAllowed)
		reason = "method " + r.Method
	case !strings.HasPrefix(r.URL.Path, "/") || f == nil:
		http.Error(cw, "not found", http.StatusNotFound)
	default:
		w.Header().Set("Content-Type", "application/efi")
		w.Header().Set("ETag", strconv.Quote(f.sha256))
		http.ServeContent(cw, r, "", bootModTime, f.reader())
		reason = ""
	}
	took := time.Since(start).Round(time.Millisecond)
	rng := r.Header.Get("Range")
	if rng == "" {
		rng = "-"
	}
	if reason != "" {
		h.logf("pxe: http refuse ip=%s method=%s file=%q status=%d reason=%q", ip, r.Method, r.URL.Path, cw.status, reason)
		return
	}
	h.logf("pxe: http sent ip=%s method=%s file=%s status=%d bytes=%d range=%q took=%s", ip, r.Method, f.name, cw.status, cw.bytes, rng, took)
}

func clientIP(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return "-"
	}
	return host
}

// countingWriter records the status and the body bytes written.
type countingWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (c *countingWriter) WriteHeader(status int) {
	c.status = status
	c.ResponseWriter.WriteHeader(status)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.bytes += int64(n)
	return n, err
}
