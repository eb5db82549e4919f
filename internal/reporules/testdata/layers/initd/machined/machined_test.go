// Allowed: a test may reach across the line.
package machined

import "example.com/fixture/pipeline"
