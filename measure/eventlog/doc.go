// Package eventlog parses the TPM 2.0 firmware event log that Linux exposes
// at /sys/kernel/security/tpm0/binary_bios_measurements, and replays it into
// the PCR values it claims to explain.
//
// The room: the log is untrusted input. It is written by firmware, copied by
// the kernel and read from a file anyone with root can fake; only the TPM's
// PCRs are the truth. The log is believed only as far as replaying it
// reproduces the PCR values read from (or quoted by) the TPM, so callers
// must Replay and Compare before they act on any event. Parse never panics,
// checks every length against the bytes that remain, and reports the byte
// offset of the first thing it did not accept.
//
// Supported subset (TCG PC Client Platform Firmware Profile, "crypto agile"
// log format):
//
//   - The first event is a TCG_PCR_EVENT (SHA-1 layout) of type EV_NO_ACTION
//     on PCR 0 whose data is a TCG_EfiSpecIdEvent with signature
//     "Spec ID Event03"; its algorithm table sizes every later digest.
//   - Every later event is a TCG_PCR_EVENT2 carrying exactly one digest for
//     each algorithm in that table, as the spec (and Linux) require.
//   - The log ends exactly at the end of its last event; trailing bytes are
//     an error, as are unknown algorithms, duplicate digests and declared
//     sizes that contradict a known hash.
//   - Replay hashes with SHA-1, SHA-256, SHA-384 and SHA-512. It skips
//     EV_NO_ACTION events and honours the StartupLocality EV_NO_ACTION event,
//     which makes PCR 0 start at the locality instead of zero.
//
// Not supported: TPM 1.2 (SHA-1 only) logs without a Spec ID event, event
// data interpretation (EFI variables, device paths), and the final-events
// table that firmware appends after ExitBootServices.
package eventlog
