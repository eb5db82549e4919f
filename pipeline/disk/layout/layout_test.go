package layout

import (
	"testing"

	"github.com/kiln-os/kiln/pipeline/disk/gpt"
)

// TestPlan pins the layout DESIGN.md "Disk layout" states, on disk.raw's 1 GiB and on a
// 3 GiB disk: EFI at 1 MiB (512 MiB), STATE right after (100 MiB), EPHEMERAL to the last
// whole MiB before the backup table. Installed machines and disk.raw depend on these
// offsets (initd/storage finds partitions by label, the e2e tests by offset).
func TestPlan(t *testing.T) {
	for _, size := range []int64{ImageSize, 3 << 30} {
		table, err := Partitions().Plan(size, []byte("seed"))
		if err != nil {
			t.Fatal(err)
		}
		want := []gpt.Extent{
			{Name: "EFI", Offset: 1 << 20, Size: 512 << 20},
			{Name: "STATE", Offset: 513 << 20, Size: 100 << 20},
			{Name: "EPHEMERAL", Offset: 613 << 20, Size: size - 1<<20 - 613<<20},
		}
		for i, w := range want {
			got := table.Partitions[i]
			if got.Name != w.Name || got.Offset != w.Offset || got.Size != w.Size {
				t.Errorf("%d bytes: partition %d = %s at %d (%d bytes), want %s at %d (%d bytes)", size, i+1, got.Name, got.Offset, got.Size, w.Name, w.Offset, w.Size)
			}
		}
	}
}
