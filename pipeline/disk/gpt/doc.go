// Package gpt writes GUID Partition Table disk images: the raw disk image of
// Kiln (EFI, STATE, EPHEMERAL), with each partition's content copied in.
//
// Output is reproducible: the image is a function of the Layout, the disk
// size and the caller's seed alone. Nothing reads the clock or a random
// source. The disk GUID and every partition's unique GUID are derived from
// the seed (for instance the SHA-256 of the spec's name and version):
//
//	GUID = SHA-256(seed || 0x00 || what)[:16], with the RFC 4122 version
//	       nibble set to 4 and the variant bits to 10
//
// where what is "disk" for the disk GUID and "partition/N" (N = 1, 2, …) for
// the N-th partition. They are shaped like random (version 4) GUIDs, as
// systemd-repart does with its hashed ones, so any tool accepts them; they
// are not version 5 (SHA-1 name-based) GUIDs. A different seed gives other
// GUIDs, so two images built from different specs do not clash on one
// machine.
//
// Supported subset (UEFI specification 2.10, chapter 5 "GUID Partition
// Table (GPT) Disk Layout"):
//
//   - 512-byte logical sectors only
//   - a protective MBR (one 0xEE partition over the disk, capped at 2 TiB
//     as the MBR field allows), the primary header at LBA 1 with 128 entries
//     of 128 bytes at LBA 2-33, and the backup entries and header in the last
//     33 sectors, with their CRC32s
//   - partitions in the order given, each starting on a 1 MiB boundary; a
//     Size of 0 gives the last partition the rest of the disk, rounded down
//     to 1 MiB. No attribute bits are set
//   - names of up to 36 UTF-16 code units
//
// Write makes a sparse file: it truncates the target to the disk size and
// writes only the tables and the partitions' contents, skipping the all-zero
// 64 KiB blocks of a content, so empty space costs no disk blocks. A file
// system writer can also fill a partition in place afterwards, with no
// intermediate file: leave Content nil and give it
// io.NewOffsetWriter(disk, extent.Offset).
//
// An installer writing a real disk does it the other way round: Plan, fill the
// partitions at the planned extents, then WriteTable, so that the table, the one
// thing that makes the partitions visible, is written last.
package gpt
