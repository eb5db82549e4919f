package apid

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestMainNeedsCredentialsOutsideMaintenance(t *testing.T) {
	var stderr bytes.Buffer
	err := Main(context.Background(), []string{"--listen", "127.0.0.1:0"}, &stderr)
	if err == nil || !strings.Contains(err.Error(), "--maintenance") {
		t.Errorf("Main without --ca/--cert/--key: %v, want an error naming the flags", err)
	}
}

func TestMainMaintenanceServesUntilCancelled(t *testing.T) {
	var stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	args := []string{"--listen", "127.0.0.1:0", "--maintenance", "--machined-socket", t.TempDir() + "/none.sock"}
	if err := Main(ctx, args, &stderr); err != nil {
		t.Fatalf("Main: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "sha256=") {
		t.Errorf("maintenance mode did not log the certificate fingerprint:\n%s", stderr.String())
	}
}
