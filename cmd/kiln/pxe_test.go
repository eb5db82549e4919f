package main

import (
	"errors"
	"strings"
	"testing"
)

// `kiln pxe serve` reports bad input naming the flag, before opening any socket.
func TestPXEServeNamesTheFlag(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"pxe"}, "serve"},
		{[]string{"pxe", "boot"}, "serve"},
		{[]string{"pxe", "serve"}, "--proxy: "},
		{[]string{"pxe", "serve", "--proxy", "--range", "10.0.0.2-10.0.0.9", "--interface", "lo"}, "--proxy: "},
		{[]string{"pxe", "serve", "--proxy"}, "--interface: required"},
		{[]string{"pxe", "serve", "--proxy", "--interface", "kilnnosuch0"}, "--interface: kilnnosuch0"},
		{[]string{"pxe", "serve", "--range", "127.0.0.2-127.0.0.1", "--interface", "lo"}, "--range: "},
		{[]string{"pxe", "serve", "--proxy", "--interface", "lo", "--allow-mac", "x"}, "--allow-mac: "},
		{[]string{"pxe", "serve", "--proxy", "--interface", "lo", "--http-port", "0"}, "--http-port: "},
		{[]string{"pxe", "serve", "--proxy", "--interface", "lo", "--out", t.TempDir()}, "--out: read manifest"},
		{[]string{"pxe", "serve", "--proxy", "--interface", "lo", "--db", "/nonexistent/db.crt", "--out", t.TempDir()}, "--out: "},
		{[]string{"pxe", "serve", "--frobnicate"}, "frobnicate"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := runKiln(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
			if usage := errors.Is(err, errUsage); usage != !strings.HasPrefix(tt.want, "--") {
				t.Errorf("usage error %v for %v", usage, err)
			}
		})
	}
}
