package netboot

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pin/tftp/v3"
)

// serveTFTP runs the TFTP server on an ephemeral port of 127.0.0.1.
func serveTFTP(t *testing.T, files map[string]*servedFile, log *logLines) string {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newTFTP(files, log.logf)
	done := make(chan error, 1)
	go func() { done <- srv.serve(conn) }()
	t.Cleanup(func() {
		srv.shutdown()
		if err := <-done; err != nil {
			t.Errorf("tftp serve: %v", err)
		}
	})
	return conn.LocalAddr().String()
}

func tftpClient(t *testing.T, addr string) *tftp.Client {
	t.Helper()
	c, err := tftp.NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetTimeout(time.Second)
	c.SetRetries(2)
	return c
}

func TestTFTPServesTheUKI(t *testing.T) {
	files, uki := testFiles(t)
	var log logLines
	addr := serveTFTP(t, files, &log)
	for _, blksize := range []int{512, 1468, 8192} {
		t.Run(fmt.Sprint("blksize ", blksize), func(t *testing.T) {
			c := tftpClient(t, addr)
			c.SetBlockSize(blksize)
			c.RequestTSize(true)
			wt, err := c.Receive(BootFile, "octet")
			if err != nil {
				t.Fatal(err)
			}
			if size, ok := wt.(tftp.IncomingTransfer).Size(); !ok || size != int64(len(uki)) {
				t.Errorf("tsize %d (%v), want %d", size, ok, len(uki))
			}
			var got bytes.Buffer
			if _, err := wt.WriteTo(&got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), uki) {
				t.Errorf("received %d bytes that differ from the UKI's %d", got.Len(), len(uki))
			}
		})
	}
	// The log line is written after the last ACK; give the server a moment.
	waitFor(t, func() bool { return len(log.with("pxe: tftp sent ")) == 3 }, &log)
	want := fmt.Sprintf("pxe: tftp sent ip=127.0.0.1 file=kiln.efi bytes=%d took=", len(uki))
	for _, line := range log.with("pxe: tftp sent ") {
		if !strings.HasPrefix(line, want) {
			t.Errorf("log line %q, want %q…", line, want)
		}
	}
}

func TestTFTPRefuses(t *testing.T) {
	files, _ := testFiles(t)
	var log logLines
	addr := serveTFTP(t, files, &log)
	for name, reason := range map[string]string{
		"../kiln.efi":      "path traversal",
		"a/../../kiln.efi": "path traversal",
		"/kiln.efi":        "absolute path",
		`EFI\kiln.efi`:     "backslash in name",
		"kiln.iso":         notServed,
		"KILN.EFI":         notServed,
		"":                 notServed,
	} {
		t.Run(name, func(t *testing.T) {
			wt, err := tftpClient(t, addr).Receive(name, "octet")
			if err == nil {
				_, err = wt.WriteTo(io.Discard)
			}
			if err == nil || !strings.Contains(err.Error(), "file not found") {
				t.Errorf("read of %q: %v, want a file-not-found error", name, err)
			}
			waitFor(t, func() bool {
				return len(log.with(fmt.Sprintf("pxe: tftp refuse ip=127.0.0.1 file=%q reason=%q", name, reason))) > 0
			}, &log)
		})
	}
	t.Run("write", func(t *testing.T) {
		rf, err := tftpClient(t, addr).Send(BootFile, "octet")
		if err == nil {
			_, err = rf.ReadFrom(strings.NewReader("not a UKI"))
		}
		if err == nil {
			t.Fatal("write accepted")
		}
		waitFor(t, func() bool {
			return len(log.with(`pxe: tftp refuse ip=127.0.0.1 file="kiln.efi" reason="write request on a read-only server"`)) > 0
		}, &log)
		if !bytes.Equal(files[BootFile].data[:2], []byte("MZ")) {
			t.Error("the served file changed")
		}
	})
}

func waitFor(t *testing.T, cond func() bool, log *logLines) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("log does not have the line; it has:\n%s", log)
}

// serveHTTP runs the HTTP server on an ephemeral port of 127.0.0.1.
func serveHTTP(t *testing.T, files map[string]*servedFile, log *logLines) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTP(files, log.logf)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func TestHTTPServesTheUKI(t *testing.T) {
	files, uki := testFiles(t)
	var log logLines
	base := serveHTTP(t, files, &log)
	tests := []struct {
		name, method, rng string
		status            int
		body              []byte
		logged            string
	}{
		{"whole", "GET", "", 200, uki, fmt.Sprintf(`status=200 bytes=%d range="-"`, len(uki))},
		{"range", "GET", "bytes=16-31", 206, uki[16:32], `status=206 bytes=16 range="bytes=16-31"`},
		{"suffix range", "GET", "bytes=-8", 206, uki[len(uki)-8:], `status=206 bytes=8 range="bytes=-8"`},
		{"range past the end", "GET", fmt.Sprintf("bytes=%d-", len(uki)+1), 416, nil, "status=416"},
		{"head", "HEAD", "", 200, nil, `status=200 bytes=0 range="-"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, base+"/kiln.efi", nil)
			if tt.rng != "" {
				req.Header.Set("Range", tt.rng)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.body != nil && !bytes.Equal(body, tt.body) {
				t.Errorf("body of %d bytes differs from the %d expected", len(body), len(tt.body))
			}
			if tt.method == "HEAD" && resp.ContentLength != int64(len(uki)) {
				t.Errorf("HEAD Content-Length %d, want %d", resp.ContentLength, len(uki))
			}
			if tt.status == 200 && resp.Header.Get("Accept-Ranges") != "bytes" {
				t.Errorf("no Accept-Ranges: bytes")
			}
			waitFor(t, func() bool {
				for _, line := range log.with("pxe: http sent ip=127.0.0.1 method=" + tt.method + " file=kiln.efi ") {
					if strings.Contains(line, tt.logged) {
						return true
					}
				}
				return false
			}, &log)
		})
	}
}

// rawGet sends a request line as written, without a client's path cleaning.
func rawGet(t *testing.T, base, method, target string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp4", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: kiln\r\nConnection: close\r\n\r\n", method, target)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

func TestHTTPRefuses(t *testing.T) {
	files, _ := testFiles(t)
	var log logLines
	base := serveHTTP(t, files, &log)
	tests := []struct {
		method, target string
		status         int
		reason         string
	}{
		{"GET", "/../kiln.efi", 404, "path traversal"},
		{"GET", "/%2e%2e/kiln.efi", 404, "path traversal"},
		{"GET", "//kiln.efi", 404, "absolute path"},
		{"GET", "/EFI%5ckiln.efi", 404, "backslash in name"},
		{"GET", "/", 404, notServed},
		{"GET", "/index.html", 404, notServed},
		{"GET", "/kiln.efi/", 404, notServed},
		{"GET", "/kiln.iso", 404, notServed},
		{"PUT", "/kiln.efi", 405, "method PUT"},
		{"POST", "/kiln.efi", 405, "method POST"},
		{"DELETE", "/kiln.efi", 405, "method DELETE"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			status, location := rawGet(t, base, tt.method, tt.target)
			if status != tt.status || location != "" {
				t.Errorf("status %d location %q, want %d and no redirect", status, location, tt.status)
			}
			waitFor(t, func() bool {
				for _, line := range log.with("pxe: http refuse ip=127.0.0.1 method=" + tt.method + " ") {
					if strings.HasSuffix(line, fmt.Sprintf("status=%d reason=%q", tt.status, tt.reason)) {
						return true
					}
				}
				return false
			}, &log)
		})
	}
}

// notServed is the reason a name outside the set is refused.
const notServed = "not served (the set is kiln.efi)"
