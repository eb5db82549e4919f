package build

import (
	"fmt"

	"example.com/fixture/kernel/kspp"
)

var _ = fmt.Sprint(kspp.X)
