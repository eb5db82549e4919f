// Package install writes Kiln to a machine's disk from a live boot (DESIGN.md "Upgrade,
// rollback, install"; issue 14 item 4): it lists and selects the target disk, probes it
// for data, wipes it when told to, writes the ESP and the GPT in a power-cut-safe order,
// reads the UKI off the live ISO, and makes the firmware boot the new disk next.
//
// The room is the library: machined's Install phase calls it with the config's install
// section, the verified UKI and the signed payload directory (/usr/lib/kiln/esp), and
// reports and reboots. It must not verify images itself (initd/upgrade does, as for an
// upgrade), format STATE or EPHEMERAL (machined does at first boot), or reboot.
//
// Every function takes its paths and devices as parameters (a sysfs root, a /dev, an
// io.ReaderAt/WriterAt, an efivarfs directory), so the tests run on plain files.
//
// The disk and the ISO are untrusted input: every offset and length read from them is
// bounds-checked before use, and the parsers are fuzzed.
package install
