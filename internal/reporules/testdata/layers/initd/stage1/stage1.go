package stage1

import "example.com/fixture/initd/phase"
