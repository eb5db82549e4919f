// Allowed: the node imports a shared leaf of the builder.
package hardening

import "example.com/fixture/kernel/kspp"
