package machined

import (
	"testing"

	"github.com/kiln-os/kiln/initd/configstate"
)

func TestCmdlineParam(t *testing.T) {
	cl := "console=ttyS0 kiln.config=http://10.0.2.2:8080/c.yaml kiln.tpm=required"
	if got := cmdlineParam(cl, configstate.URLParam); got != "http://10.0.2.2:8080/c.yaml" {
		t.Errorf("kiln.config = %q", got)
	}
	if got := cmdlineParam(cl, "kiln.tp"); got != "" {
		t.Errorf("prefix matched: %q", got)
	}
}
