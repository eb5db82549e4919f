package client

import (
	"strings"
	"testing"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/api/rbac"
)

// A PermissionDenied for a caller whose role suffices is the node refusing the request
// itself (a forbidden path): the advice must not send the operator for another
// certificate. One whose role falls short names the role it needs.
func TestDeniedAdviceTellsRoleFromRequest(t *testing.T) {
	method := machine.MachineService_ListFiles_FullMethodName
	nodeSays := "diag: forbidden path: /system/state is STATE"

	got := deniedAdvice(nodeSays, method, []rbac.Role{rbac.Operator}, false)
	if !strings.Contains(got, nodeSays) || strings.Contains(got, "certificate's role") || strings.Contains(got, "gen cert") {
		t.Errorf("operator refused a forbidden path: %q, want the node's words without role advice", got)
	}
	got = deniedAdvice("rbac: needs os:operator", method, []rbac.Role{rbac.Reader}, false)
	if !strings.Contains(got, "needs os:operator") || !strings.Contains(got, "gen cert --role os:operator") {
		t.Errorf("reader refused: %q, want advice naming os:operator", got)
	}
}
