// qemu belongs to neither side: it may import anything, but a side that imports it
// reaches what it imports.
package qemu

import (
	"example.com/fixture/initd/events"
	"example.com/fixture/initd/phase"
)
