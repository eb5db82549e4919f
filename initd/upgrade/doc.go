// Package upgrade is the node side of Upgrade and Rollback (issue 13): it
// checks a new UKI before a byte of the ESP is written, writes it so that a
// power cut at any instant leaves a bootable ESP, cleans up after a cut, and
// marks the booted UKI bad for a rollback. It must not touch EFI variables,
// loader.conf or systemd-boot, nor write any file of the ESP outside the
// EFI/Linux directory it is given, nor ever open the booted or the previous
// good UKI for writing. It knows nothing of gRPC, streams or reboots: the API
// wiring (machined) reads the request, calls this package and reboots.
//
// # API
//
// One upgrade, as machined runs it:
//
//	release, err := upgrade.Lock()             // a second upgrade is refused (CheckBusy), not queued
//	defer release()
//	image, err := upgrade.ReadImage(stream, 0) // refuses past MaxImageSize (CheckSize)
//	v, err := upgrade.Verify(image, env, upgrade.Options{AllowDowngrade: ..., ForcePCRKeyChange: ...})
//	name, err := upgrade.Install(filepath.Join(espMount, upgrade.LinuxDir), v)
//	// report v.Root (which db the signature chained to), v.Version, name; reboot unless staged
//
// At boot, with the ESP mounted and before blessing: removed, err :=
// Cleanup(linuxDir); report removed in an event. Rollback: Lock, then
// MarkBad(linuxDir, booted), then reboot.
//
// An install from a live boot (initd/install) verifies its UKI with VerifyInstall: the
// same checks against the payload's db.auth (there is no ESP yet), the running version
// only, and room on the new ESP.
//
// Every refusal is an *Error whose Check names the rule (size, pe,
// signature, osrel, version, pcrpkey, cmdline, space, esp, busy, rollback), for the API
// to map to a gRPC code; the sentinel errors (ErrDowngrade, ...) say why.
// Verify only reads; a refused Install, Cleanup or MarkBad changed nothing.
//
// Env carries what Verify reads from the machine: efivarfs, the ESP mount,
// the booted UKI's file name, the running version, os-release ID and
// .pcrpkey (stage 1's /.extra/tpm2-pcr-public-key.pem). With Secure Boot on
// the signature must chain to the firmware's db (and the image hash must not
// be in dbx); with it off, to the certificate in the ESP's
// loader/keys/auto/db.auth, and with neither, Verify refuses: Secure Boot
// being off is no reason to install an unchecked image.
//
// Install keeps exactly two UKIs besides the new one: the booted one and the
// previous good one (the newest blessed UKI that is not booted). Everything
// else named kiln-*.efi is pruned first, including an untried "+3" and bad
// "+0-N" entries: the evidence of a failed upgrade is replaced by the next.
//
// # What Linux vfat guarantees, and why the order is safe
//
// From fs/fat of Debian's linux-source-6.1 (namei_vfat.c, dir.c, file.c,
// inode.c), for a mount without "dirsync" (machined mounts the ESP with
// "flush", which only starts writeback on close):
//
//   - Nothing is written synchronously. rename(2) (vfat_rename) adds the new
//     directory entry with start cluster 0 and size 0, moves the inode to it
//     and marks the inode dirty, then marks the old entry deleted in the
//     directory's buffer. The new entry receives the first cluster and the
//     size only when the inode is written back (__fat_write_inode).
//   - fsync(2) of a file (fat_file_fsync) writes its data, the buffers
//     associated with it, its directory entry (synchronously), the FAT, and
//     then flushes the drive's cache.
//   - fsync(2) of the directory writes the directory blocks that changed
//     (the new entry as it stands, and the deleted old one) and flushes.
//
// So rename then fsync of the directory alone can make durable a new name
// with no data (cluster 0, size 0) and the old name gone: the image is then
// only a lost cluster chain. Install therefore does: write TempName, fsync
// it (data, FAT and entry durable), read it back and compare SHA-256, rename
// it, fsync the file under its new name (the new entry gets its cluster and
// size), fsync the directory (the old entry's deletion). Each cut leaves:
//
//   - before the rename: at most a TempName, which systemd-boot ignores (a
//     dot file); Cleanup removes it;
//   - between the rename and the file fsync: the new name empty, with or
//     without TempName; systemd-boot is left with a "+3" that is not an
//     image; Cleanup removes both (their sizes differ, so they cannot share
//     clusters);
//   - between the file fsync and the directory fsync, if the two entries lie
//     in different sectors: both names on one cluster chain, as DESIGN
//     warns. The "+3" is whole and signed and may boot; on Linux, deleting
//     either name frees the chain the other still uses, so Cleanup deletes
//     neither (it compares first blocks with FIBMAP, or the contents where
//     FIBMAP is not available) and returns ErrCrossLinked; Install refuses
//     while TempName exists, until an fsck.vfat of the unmounted ESP fixes
//     the chain;
//   - after the directory fsync: the upgrade is installed.
//
// At no point is a block of the booted or the previous good UKI written: the
// prune removes only other files (its directory fsync precedes the write),
// the temporary file is created with O_EXCL, and the rename target is a name
// that does not exist. A cut therefore never costs the running fallback.
//
// MarkBad renames the booted file and does the same two fsyncs, for the
// same reason: otherwise a cut could leave it named "+0" with no data.
//
// # For the power-cut trials to confirm
//
// Read from the source, not yet observed:
//
//   - that a cut never damages the booted or the previous UKI
//     (fsck.vfat -n on the ESP afterwards, and both still boot);
//   - that a directory sector is written whole (the usual case, where the
//     new and the old entry share a sector, relies on it) on QEMU's disks;
//   - how systemd-boot 252 treats an empty or truncated "+3" file: skipped,
//     or tried (a try spent) and fallen back from;
//   - how often the cross-linked state occurs, what fsck.vfat -n says of it,
//     and that FIBMAP works for machined on the real ESP (it needs
//     CAP_SYS_RAWIO);
//   - that no stray file remains after the next boot.
package upgrade
