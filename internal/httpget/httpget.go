// Package httpget is the node's one way to GET: a request bound to the caller's context,
// a 200 required, the body read by the caller's bounded reader. The services' HTTP health
// checks, the Kubernetes checks and the config fetch (kiln.config=) use it.
package httpget

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// errorBodyBytes is how much of a refusal's body goes into the error: health endpoints
// say there what is wrong ("[-]etcd failed: …").
const errorBodyBytes = 512

// Get GETs url with client and returns what read makes of a 200's body. Any other status
// is an error naming the URL and the status, with the start of the body.
func Get(ctx context.Context, client *http.Client, url string, read func(io.Reader) ([]byte, error)) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		start, _ := io.ReadAll(io.LimitReader(resp.Body, errorBodyBytes))
		if msg := strings.TrimSpace(string(start)); msg != "" {
			return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, msg)
		}
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return read(resp.Body)
}

// Upto is a reader for Get that keeps the first n bytes of the body and leaves the rest:
// for checks, which look at the status and the start of the body.
func Upto(n int64) func(io.Reader) ([]byte, error) {
	return func(r io.Reader) ([]byte, error) { return io.ReadAll(io.LimitReader(r, n)) }
}
