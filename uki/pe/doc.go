// Package pe reads PE/COFF images and assembles unified kernel images (UKIs):
// systemd-stub with the kernel, initramfs, command line and friends appended
// as named sections. It is the room for the PE format only; signing lives in
// uki/authenticode and PCR prediction elsewhere in uki/.
//
// Supported subset:
//
//   - PE32+ images for x86-64 (Machine 0x8664, optional header magic 0x20b);
//     PE32, other machines and COFF object files are rejected
//   - at most 16 data directories and 96 sections; section names of up to
//     8 bytes (no COFF string table names)
//   - sections in ascending virtual address order that overlap neither each
//     other nor the headers, in the file or in memory
//
// # Threat model
//
// Parse reads untrusted bytes: `kilnctl upgrade` parses an image that came
// over the network before its signature is checked. Parse never trusts a
// size or an offset from the file: every one is checked against the length
// of the input (in 64-bit arithmetic, so sums cannot wrap) before any slice
// is taken, counts are capped, and an inconsistent image is an error, never
// a panic. Parse does not allocate more than a small multiple of the header
// size, and never copies section data. A fuzz test holds it to this.
// Parsing is not verification: a well-formed image can still be malicious.
//
// # Assembling a UKI
//
// Assemble takes the systemd-stub bytes and appends sections in the order
// given, the way systemd's ukify does, and deterministically. Only the names
// in KnownSections are accepted, each once, non-empty, and not already in
// the stub (except .sbat, below).
//
//   - each new section's VirtualAddress is page-aligned (a multiple of
//     PageSize, and of the stub's SectionAlignment if that is larger), its
//     raw data is aligned to FileAlignment and zero-padded; VirtualSize is the
//     exact data length
//   - .linux is marked as code (the EFI handover protocol runs it in place),
//     every other section as read-only initialized data
//   - NumberOfSections, SizeOfImage, SizeOfCode, SizeOfInitializedData,
//     TimeDateStamp (= Options.Timestamp, the SOURCE_DATE_EPOCH) and the
//     optional-header CheckSum are rewritten
//   - a COFF symbol table at the end of the stub (Debian's systemd-stub 252
//     ships one) is dropped, as ukify does: images should not carry one
//
// The new section headers must fit between the stub's section table and
// SizeOfHeaders; Assemble fails with ErrNoRoom rather than moving the stub's
// sections. A signed stub is refused (ErrSigned): sign the assembled image.
//
// # SBAT
//
// shim reads the .sbat section of the image it verifies; systemd-stub itself
// ignores it. The stub carries its own .sbat (the "sbat" header line and the
// systemd lines), and an image must have exactly one. A .sbat passed to
// Assemble is merged with the stub's: the stub's lines first, then the new
// component lines (any "sbat," header line in them is dropped, exact
// duplicates are dropped, and a component that the stub names with other
// fields is an error), terminated by a NUL like the stub's. The stub 252 leaves no room to
// grow .sbat in place (its .sbat gets 0x100 bytes of address space before
// .sdmagic), so the merged section takes the position the caller gave it: the
// stub's .sbat header and raw data are removed and the later raw data moves
// down. This is safe because nothing in systemd-stub refers to its .sbat by
// address; Assemble refuses stubs with a debug directory, whose file offsets
// such a move would break. Without a .sbat in Options the stub's is kept as
// it is.
package pe
