package streambudget

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestPerCallerAndTotalLimits(t *testing.T) {
	b := &Budget{Server: "testd", PerCaller: 2, Total: 3}
	a, b2, c := `caller "a"`, `caller "b"`, "client 127.0.0.1"
	for _, who := range []string{a, a, b2} {
		if err := b.Take(who); err != nil {
			t.Fatalf("Take(%s): %v", who, err)
		}
	}
	err := b.Take(a)
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), `caller "a" already has 2`) {
		t.Errorf("a's third stream: %v, want ResourceExhausted naming the per-caller limit", err)
	}
	err = b.Take(c)
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "testd already holds 3") {
		t.Errorf("a fourth stream in all: %v, want ResourceExhausted naming the total", err)
	}
	b.Give(a)
	if err := b.Take(c); err != nil {
		t.Errorf("a freed slot was not reusable: %v", err)
	}
	b.Give(a)
	if err := b.Take(a); err != nil {
		t.Errorf("a's freed slot was not reusable: %v", err)
	}
}
