package upgrade

import (
	"errors"
	"sync"
)

// Check names the step that refused an upgrade (or a rollback), so the API
// can map a refusal to a gRPC code and a user can tell which rule failed.
type Check string

// The checks of Verify, in the order it applies them, then the state checks
// of Install, Cleanup, MarkBad and Lock.
const (
	CheckSize      Check = "size"      // the image is larger than the limit
	CheckPE        Check = "pe"        // the image is not a PE32+ file
	CheckSignature Check = "signature" // Authenticode does not verify or chain to db (or is in dbx)
	CheckOSRel     Check = "osrel"     // .osrel is missing, not Kiln's, or has no valid VERSION_ID
	CheckVersion   Check = "version"   // a downgrade without AllowDowngrade, or the running version
	CheckPCRKey    Check = "pcrpkey"   // .pcrpkey differs without ForcePCRKeyChange
	CheckCmdline   Check = "cmdline"   // .cmdline lacks a required KSPP parameter (kernel/kspp)
	CheckSpace     Check = "space"     // the ESP has no room, even after the prune
	CheckESP       Check = "esp"       // the ESP is not in a state to write to (booted UKI missing, leftover temp file, ...)
	CheckBusy      Check = "busy"      // another upgrade or rollback holds the lock
	CheckRollback  Check = "rollback"  // no previous good UKI to fall back to
)

// Error is a refusal: the check that failed and why. Nothing on the ESP was
// changed by the call that returned it.
type Error struct {
	Check Check
	Err   error
}

func (e *Error) Error() string { return "upgrade: " + string(e.Check) + ": " + e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

func refuse(c Check, err error) *Error { return &Error{Check: c, Err: err} }

// Reasons for refusals, wrapped in an *Error with the detail.
var (
	ErrTooLarge         = errors.New("image too large")
	ErrNoRoots          = errors.New("no certificate to verify the image against")
	ErrRevoked          = errors.New("image hash is in the firmware's dbx")
	ErrNotKiln          = errors.New("not a Kiln UKI")
	ErrAlreadyInstalled = errors.New("this version is already installed and running")
	ErrDowngrade        = errors.New("older than the running version (allow the downgrade to install it)")
	ErrPCRKeyChanged    = errors.New(".pcrpkey differs from the running UKI's: STATE would not unseal after the reboot (force the PCR key change to install it anyway)")
	ErrCmdline          = errors.New(".cmdline does not pass the KSPP table")
	ErrNoRoom           = errors.New("not enough free space on the ESP")
	ErrBootedMissing    = errors.New("the booted UKI is not on the ESP")
	ErrLeftover         = errors.New("a leftover " + TempName + " is on the ESP (Cleanup runs at boot and removes it)")
	ErrCrossLinked      = errors.New("two directory entries share one cluster chain (a rename cut by a power loss); deleting either would free the other's data")
	ErrInProgress       = errors.New("another upgrade or rollback is in progress")
	ErrNoPreviousGood   = errors.New("no previous good UKI to roll back to")
)

// lock serializes upgrades and rollbacks in this process: machined is the only
// writer of the ESP's EFI/Linux directory besides systemd-boot.
var lock sync.Mutex

// Lock takes the upgrade lock, or refuses at once (CheckBusy, ErrInProgress)
// if an upgrade or a rollback holds it: a second request is refused, never
// queued. Hold it from the first byte received to the end of Install (or
// MarkBad), and call release exactly when done; release is idempotent.
func Lock() (release func(), err error) {
	if !lock.TryLock() {
		return nil, refuse(CheckBusy, ErrInProgress)
	}
	var once sync.Once
	return func() { once.Do(lock.Unlock) }, nil
}
