// Package bootloader lays out the EFI system partition that Kiln boots from
// (build pipeline step 6): systemd-boot signed with db as both the fallback
// loader and its own path, loader.conf, the Secure Boot enrolment files
// systemd-boot 252 writes on a machine in setup mode, and the UKIs.
//
//	EFI/BOOT/BOOTX64.EFI               signed systemd-boot (what firmware starts)
//	EFI/systemd/systemd-bootx64.efi    the same bytes, where bootctl keeps it
//	loader/loader.conf                 LoaderConf
//	loader/keys/auto/{PK,KEK,db}.auth  EnrollmentFiles
//	EFI/Linux/kiln-<version>+3.efi     the UKI, named by bootloader/entry
//
// The room: what goes on the ESP and in which bytes. Sub-packages hold the
// parts: keys (the key files), efivar (signature lists, .auth files, reading
// efivarfs) and entry (UKI names, boot counting, blessing). This package
// must not write a FAT image or a disk (pipeline does), implement
// Authenticode (uki/authenticode does; SignSystemdBoot takes it as a
// function), read the clock (the enrolment timestamp is SOURCE_DATE_EPOCH,
// passed in), or choose where keys live (always `_keys/`, never the cache or
// `_out/`).
package bootloader
