// Neither side: cmd/kiln/... does not name cmd/kilnctl.
package main

import "example.com/fixture/initd/phase"
