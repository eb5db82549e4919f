// Package iso writes ISO 9660 images that UEFI firmware boots through El
// Torito: Kiln's installer and live ISO. The EFI boot image is a FAT volume
// (made by package fat) that is also an ordinary file of the ISO tree.
//
// Output is reproducible: the image is a function of Options and the set of
// files alone. Write never reads the clock or a random source, and never
// depends on the order of the files or of map iteration. Every date (the
// volume descriptor's creation and modification dates, every directory
// record) is Options.ModTime in UTC; the expiration and effective dates are
// "not specified". The volume identifier is the caller's.
//
// Supported subset (ECMA-119 4th edition, and the "El Torito" Bootable
// CD-ROM Format Specification 1.0):
//
//   - 2048-byte blocks; one Primary Volume Descriptor, a Boot Record at
//     block 17 when there is a boot image, a terminator. No Supplementary
//     Volume Descriptors: no Joliet, no Rock Ridge, no extended attributes
//   - interchange level 2 names: the ISO tree holds the upper-cased names,
//     which must then be d-characters (A-Z, 0-9, "_"); a file name has at
//     most one period and 30 characters, and is recorded with ";1"; a
//     directory name has no period and at most 31 characters; directories
//     nest at most 8 levels (the root is level 1). Lower case is mapped to
//     upper case, anything else is rejected rather than mangled, and two
//     names that map to one are a duplicate. Linux shows the names in lower
//     case without ";1"
//   - regular files of less than 4 GiB, each one extent; directories are
//     implied by the file paths
//   - directory records sorted as ECMA-119 9.3 says, the Type L and Type M
//     path tables in the order of 6.9.1; extents laid out in path table order
//     for directories and depth-first name order for files, the boot image
//     last
//   - El Torito for UEFI only: a boot catalog (not visible in the tree) with a
//     validation entry for platform 0xEF and a bootable "no emulation"
//     initial/default entry, no section entries. Its sector count is the
//     image size in 512-byte units when that fits in 16 bits; larger images
//     get 0, which UEFI (2.10, 13.3.2.1) reads as "up to the end of the
//     medium": the image is laid out last, so that is the image and the
//     padding
//   - 150 blocks (300 KiB) of zeros end the volume, as mkisofs -pad and
//     xorriso write them, because Linux reads ahead at the end of optical
//     media and the last blocks would otherwise be the boot image's
//   - the system area (blocks 0-15) is zero, unless Options.HybridMBR asks
//     for an MBR partition table there whose one partition (type 0xEF, EFI
//     System) is the boot image: then the image also boots when it is
//     written to a USB stick, where firmware reads partitions, not El Torito.
//     No GPT and no BIOS boot code are written
//
// Paths are slash-separated and relative to the root ("kiln/manifest.json");
// a leading "/" is ignored.
//
// Write streams the image to an io.Writer in one pass, from block 0 to the
// end; nothing is left unwritten.
//
// Open and Image.EFIBootImage read the other way, for the installer, which
// has no ISO 9660 in its kernel: the volume descriptors, the El Torito boot
// record and catalog (the default entry or an EFI section entry), and the
// boot image's extent, every number checked against the image's size. They
// read no directories: the boot image is found through the catalog, as the
// firmware finds it.
package iso
