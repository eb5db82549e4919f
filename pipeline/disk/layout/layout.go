// Package layout is Kiln's disk layout (DESIGN.md "Disk layout"): the partitions of the
// raw image the builder writes and of the disk the installer writes, in one place so
// that the two cannot drift. It holds constants and the gpt.Layout they make, nothing
// else: the builder (pipeline) and the node (initd/install) both import it.
package layout

import "github.com/kiln-os/kiln/pipeline/disk/gpt"

// Sizes in bytes and labels. EPHEMERAL takes the rest of the disk; on the raw image
// that is the rest of ImageSize, and a machine grows it at first boot.
const (
	ImageSize      = 1 << 30   // disk.raw
	ESPSize        = 512 << 20 // FAT32
	StateSize      = 100 << 20
	LabelESP       = "EFI"
	LabelState     = "STATE"
	LabelEphemeral = "EPHEMERAL"
	// ESPVolumeLabel is the ESP's FAT volume label.
	ESPVolumeLabel = "KILN-EFI"
)

// Partitions is the GPT layout: EFI, STATE, EPHEMERAL, in that order (partition
// numbers 1, 2, 3). STATE and EPHEMERAL have no content: machined formats them.
func Partitions() gpt.Layout {
	return gpt.Layout{Partitions: []gpt.Partition{
		{Name: LabelESP, Type: gpt.EFISystem, Size: ESPSize},
		{Name: LabelState, Type: gpt.LinuxFilesystem, Size: StateSize},
		{Name: LabelEphemeral, Type: gpt.LinuxFilesystem},
	}}
}
