// Package pipeline turns an image spec (kiln.yaml) into the artifacts in _out/: it parses
// and validates the spec, runs the build steps (keys, kernel, KSPP report, binaries, rootfs,
// initramfs, UKI, bootloader, disk, ISO) and writes manifest.json, through which tests and
// tools find every artifact.
//
// Each step is a function from a typed input to a typed output, wired in one place
// (Build.runSteps); no step reads another's state, and a cached step's key is the SHA-256
// of its inputs alone (never of where it caches or logs). The manifest is assembled from
// the step outputs.
//
// It is builder-side: it never imports the node (initd, api servers). No step reads the
// clock: every timestamp comes from SOURCE_DATE_EPOCH.
package pipeline
