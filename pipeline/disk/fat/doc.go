// Package fat writes FAT12, FAT16 and FAT32 file system images from an
// in-memory list of files: the EFI system partition of the raw disk image and
// the El Torito boot image of the ISO. It also reads them (Open, ReadDir,
// ReadFile), for the installer, which takes the UKI out of the ISO's boot
// image: a bounds-checked reader of any writer's volumes, never a second
// writer.
//
// Output is reproducible: the image is a function of Options and the set of
// files alone. Write never reads the clock or a random source, and never
// depends on the order of the files or of map iteration. The volume ID is the
// caller's (derive it from the image spec), every timestamp is Options.ModTime,
// directory entries are sorted by name, and clusters are handed out in that
// order, depth first.
//
// Supported subset (Microsoft "FAT: General Overview of On-Disk Format",
// fatgen103):
//
//   - 512-byte sectors, two FATs, media 0xF8, no boot code (the boot sector
//     only runs INT 18h, "boot the next device"), no bad clusters
//   - the FAT type follows from Options.Size unless Options.Type asks for
//     one: Auto takes FAT32 when the volume has room for at least 65541
//     clusters of the fatgen103 cluster size, else FAT16, else FAT12. Cluster
//     counts within 16 of a type boundary are avoided, because drivers
//     disagree by one there. FAT32 uses the fatgen103 cluster size table
//     (4 KiB for the 512 MiB ESP); FAT12 and FAT16 use the smallest cluster
//     that keeps the count under the type's limit
//   - FAT12/16 root directories hold 512 entries; FAT32 keeps the FSInfo
//     sector (with the real free count) and a backup boot sector at 6
//   - regular files and directories only; directories are implied by file
//     paths. Files are stored in contiguous clusters; 4 GiB - 1 bytes at most
//   - long names as VFAT LFN entries (UTF-16, 255 units) whenever a name is
//     not exactly its own upper-case 8.3 short name. Short names follow the
//     fatgen103 basis-name rules with a numeric tail (~1, ~2, …, no hashes):
//     names that need no tail are reserved first, then tails are given in
//     name order, so they do not depend on input order. Names are matched
//     case-insensitively: "a" and "A" in one directory are a duplicate
//   - the volume label (upper-case short-name characters, at most 11) is in
//     the boot sector and, when set, as the first root directory entry
//
// Paths are slash-separated and relative to the root ("EFI/BOOT/BOOTX64.EFI");
// a leading "/" is ignored. Names must not contain control characters or
// any of `"*/:<>?\|`, nor end in a space or a period.
//
// Write sets every byte of the boot region, the FATs, the directories and the
// clusters in use, and writes nothing to free clusters: give it a target that
// reads as zeros (a fresh sparse file, as WriteFile makes, or a new slice) for
// the image to be byte-identical from build to build.
package fat
