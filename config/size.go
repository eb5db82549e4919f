package config

import (
	"errors"
	"fmt"
)

// MaxSize is the largest machine config, in bytes, that any reader accepts: the API, the
// maintenance-mode handoff, STATE, the kiln.config= URL, fw_cfg and kilnctl. A real config
// is a few KiB; YAML decoding costs far more than the bytes (a 4 MiB flow list took
// 636 MiB of heap), so the size is checked before anything parses the document.
const MaxSize = 1 << 20

// ErrTooLarge is matched (errors.Is) by CheckSize's error, and so by Decode's for a config
// over MaxSize. It also matches ErrInvalid: the config was rejected for what it is.
var ErrTooLarge = errors.New("config: too large")

// CheckSize refuses a config of size bytes over MaxSize.
func CheckSize(size int) error {
	if size <= MaxSize {
		return nil
	}
	return invalid(fmt.Errorf("%w: %d bytes, over the limit of %d bytes (1 MiB); a machine config is a few KiB, so look for pasted files or generated lists that belong elsewhere",
		ErrTooLarge, size, MaxSize))
}
