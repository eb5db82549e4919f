// A shared tree (measure/...) that reaches a builder package.
package pcr

import "example.com/fixture/uki/pe"
