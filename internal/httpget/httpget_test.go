package httpget

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestGet(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			fmt.Fprint(w, strings.Repeat("x", 100))
		case "/sick":
			http.Error(w, "[-]etcd failed: reason withheld\n"+strings.Repeat("y", 2000), http.StatusInternalServerError)
		case "/empty":
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	body, err := Get(t.Context(), srv.Client(), srv.URL+"/ok", Upto(10))
	if err != nil || string(body) != strings.Repeat("x", 10) {
		t.Errorf("200 read up to 10 bytes: %q, %v", body, err)
	}
	_, err = Get(t.Context(), srv.Client(), srv.URL+"/sick", Upto(10))
	if err == nil || !strings.Contains(err.Error(), "500 Internal Server Error: [-]etcd failed") || strings.Count(err.Error(), "y") > errorBodyBytes {
		t.Errorf("500: %v, want the status and the start of the body", err)
	}
	if _, err = Get(t.Context(), srv.Client(), srv.URL+"/empty", Upto(10)); err == nil || !strings.HasSuffix(err.Error(), "404 Not Found") {
		t.Errorf("404 without a body: %v", err)
	}
	// The caller's reader decides about the body: an error from it is Get's.
	tooLong := func(r io.Reader) ([]byte, error) { return nil, fmt.Errorf("over the limit") }
	if _, err = Get(t.Context(), srv.Client(), srv.URL+"/ok", tooLong); err == nil || err.Error() != "over the limit" {
		t.Errorf("reader's error: %v", err)
	}
}
