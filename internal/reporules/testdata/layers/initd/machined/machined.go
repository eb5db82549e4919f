// Forbidden: the node imports a builder package that is not a leaf.
package machined

import (
	"example.com/fixture/initd/hardening"
	"example.com/fixture/kernel/build"
)
