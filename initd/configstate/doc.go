// Package configstate is how the machine config enters the node: found by LoadConfig on
// STATE, at the kiln.config= URL or in QEMU fw_cfg, or handed in by ApplyConfiguration;
// validated (the config's own rules and the KSPP sysctls it may not weaken), persisted to
// STATE atomically, and published as the one config/MachineConfig resource from which
// controllers derive everything else (DESIGN.md "PID 1").
//
// The room: the config's way in. It must not apply the config to the machine (the
// controllers do, from the resource), keep it anywhere but the resource store and STATE,
// redact it (machineapi does, where the API reads resources) or speak gRPC status codes
// (machineapi maps the domain errors it returns).
package configstate
