// Allowed: initd/events (a leaf). Forbidden: initd/stage1, and through it initd/phase
// is not reported again (one report per package crossed into).
package pipeline

import (
	"example.com/fixture/initd/events"
	"example.com/fixture/initd/stage1"
)
