// Package pipeline turns an image spec (kiln.yaml) into the artifacts in _out/: it parses
// and validates the spec, runs the build steps in order (kernel, binaries, rootfs,
// initramfs), each a pure function of its inputs cached under $KILN_CACHE by the SHA-256 of
// those inputs, and writes manifest.json, through which tests and tools find every artifact.
//
// It is builder-side: it never imports the node (initd, api servers). No step reads the
// clock: every timestamp comes from SOURCE_DATE_EPOCH.
package pipeline
