// Package resourcetest helps tests put resources into a store as their owners would. It is
// for tests only; nothing on the node imports it.
package resourcetest

import (
	"context"
	"testing"

	"github.com/kiln-os/kiln/initd/resources"
)

// Set writes spec as namespace/typ/id, owned by "test", and fails the test on an error.
func Set(t testing.TB, s *resources.Store, namespace, typ, id string, spec any) {
	t.Helper()
	if _, err := s.Set(context.Background(), namespace, typ, id, "test", spec); err != nil {
		t.Fatal(err)
	}
}
