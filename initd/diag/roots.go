package diag

import "errors"

// Roots are the trees diag reads; Default is the running node's.
type Roots struct {
	Proc string // /proc
	Sys  string // /sys
	// Files is the root ListFiles and ReadFile resolve paths in: "/" on the node.
	Files string
	// Users names uids for Processes; an unknown uid shows as its number.
	Users map[uint32]string
	// ESPLabel is the GPT partition name of the ESP: its disk is the boot disk.
	ESPLabel string
}

// Default is the running node.
var Default = Roots{Proc: "/proc", Sys: "/sys", Files: "/"}

// Errors that machineapi maps to status codes.
var (
	// ErrForbidden: the path is, or resolves into, a directory no caller may read.
	ErrForbidden = errors.New("diag: forbidden path")
	// ErrTooLarge: the file is larger than ReadFile serves.
	ErrTooLarge = errors.New("diag: file too large")
	// ErrBadPath: the path is not absolute or not clean.
	ErrBadPath = errors.New("diag: bad path")
)
