// Package pcrsig predicts the value of PCR 11 that a UKI leaves behind and
// signs it for systemd's signed PCR policies: the `.pcrsig` section, in the
// JSON that `systemd-measure sign` (v252) writes, and the `.pcrpkey` section
// holding the public half of the PCR key.
//
// What systemd-stub 252 measures into PCR 11, and so what Predict replays
// from zero: for each section present, in the order of MeasuredSections
// (.linux .osrel .cmdline .initrd .splash .dtb .pcrpkey, whatever the
// order in the file), first the section name with its trailing NUL, then
// the section contents (VirtualSize bytes, which uki/pe sets to the data
// length); empty sections are skipped, and .pcrsig, .uname and .sbat are
// not measured. Then, at each boot phase, the phase word (no NUL) as
// systemd-pcrphase extends it: Kiln uses the phase words of
// measure/pcr: enter-initrd, leave-initrd, sysinit and ready.
//
// Sign computes, per bank and phase, the TPM2_PolicyPCR digest for PCR 11
// holding the predicted value (policy hash SHA-256, as systemd's trial
// session) and signs it with the PCR key, RSA PKCS#1 v1.5 over the bank's
// hash of that digest, exactly as systemd-measure 252 does; tests compare
// it byte for byte with systemd-measure running against swtpm.
//
// The room: this package does arithmetic and formatting only; it does not
// read files, choose keys or add sections to the image (the pipeline does
// that with uki/pe). PCR and policy arithmetic lives in measure/pcr, shared
// with machined.
package pcrsig
