// Package version holds the version stamped into Kiln's binaries at build time
// (-ldflags "-X github.com/kiln-os/kiln/internal/version.Version=...").
package version

// Version is the image version from the spec; "dev" for binaries built by go build alone.
var Version = "dev"

// Name is the OS name from the spec.
var Name = "kiln"
