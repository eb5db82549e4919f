// Forbidden, two imports away: cmd/kiln → qemu → initd/phase.
package main

import "example.com/fixture/qemu"
