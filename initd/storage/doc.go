// Package storage is machined's Storage boot phase: it opens STATE (the small
// encrypted partition for the machine config and node PKI) and mounts it, and makes,
// grows and mounts EPHEMERAL at /var. The subpackages do the mechanics: partition finds
// devices by GPT name, stateheader is STATE's on-disk header, dm drives device-mapper,
// ext4 formats and grows filesystems. There is no shell and no mkfs in the image: it is
// all Go.
//
// It must not touch the ESP, must not decide policy (whether a TPM is required comes
// from the caller), and must never format a STATE that has a header, valid or not: the
// only STATE it formats is one whose whole 1 MiB header area is zero.
//
// # Why plain dm-crypt with a Kiln header, not LUKS2
//
// STATE's key is a random 512-bit secret sealed by the TPM (a KeySealer, opaque here).
// LUKS2 exists to turn human passphrases into keys (Argon2 KDF) and to keep several of
// them (anti-forensic keyslots); with one random key that only the TPM releases, both
// add nothing, and a LUKS2 writer (JSON metadata, two binary headers, keyslot areas) is
// a large piece of code on the boot path. The Kiln header (package stateheader) holds
// only what Kiln needs: mode, cipher, data offset, a UUID and the sealed-key blob,
// twice, checksummed. The data area starts at 1 MiB and is dm-crypt aes-xts-plain64
// with a 64-byte key and IV offset 0, so an operator holding the key can open it with
// stock tools:
//
//	cryptsetup open --type plain --cipher aes-xts-plain64 --key-size 512 \
//	    --offset 2048 --key-file key.bin /dev/vda2 state
//
// A machine without a TPM may run STATE in plain mode (dm-linear, unencrypted) when the
// caller allows it; Result.Unencrypted tells the caller to warn. The header's bytes are
// untrusted, so plain mode is decided by the boot, not by the header: a boot whose
// KeySealer could seal (Probe returns nil) refuses a plain header, which only a
// TPM-less boot makes, and a sealed header must name aes-xts-plain64.
//
// # Order of the first format
//
// The header is the commit record: on a blank STATE the key is made and sealed, the
// data area is mapped and formatted, and only then is the header written (copy 0,
// fsync, copy 1, fsync). A power cut before that leaves the header area zero and the
// next boot starts over; after it, STATE is complete.
package storage
