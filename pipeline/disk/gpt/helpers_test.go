package gpt

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-os/kiln/pipeline/disk/fat"
)

var testSeed = []byte("kiln-test 0.1.0")

func kilnLayout(espSize, stateSize int64, esp, state io.ReaderAt) Layout {
	return Layout{SectorSize: 512, Partitions: []Partition{
		{Name: "EFI", Type: EFISystem, Size: espSize, Content: esp},
		{Name: "STATE", Type: LinuxFilesystem, Size: stateSize, Content: state},
		{Name: "EPHEMERAL", Type: LinuxFilesystem},
	}}
}

// stateContent is data with a 1 MiB hole in the middle and a tail that is
// not a whole block, to exercise the sparse copy.
func stateContent() []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < 300<<10; i++ {
		fmt.Fprintf(&b, "state %d\n", i)
	}
	b.Write(make([]byte, 1<<20))
	b.WriteString("end of state\n")
	return b.Bytes()
}

// writeKilnDisk writes a 24 MiB disk with an 8 MiB FAT ESP and a 4 MiB STATE
// with content, and checks that both contents read back at their offsets.
func writeKilnDisk(t *testing.T) (string, *Table) {
	t.Helper()
	dir := t.TempDir()
	espPath := filepath.Join(dir, "esp.img")
	err := fat.WriteFile(espPath, fat.Options{Size: 8 << 20, Label: "EFI", VolumeID: 1, ModTime: time.Unix(1704164645, 0)},
		[]fat.File{{Path: "EFI/BOOT/BOOTX64.EFI", Data: []byte("boot")}})
	if err != nil {
		t.Fatal(err)
	}
	esp, err := os.ReadFile(espPath)
	if err != nil {
		t.Fatal(err)
	}
	state := stateContent()
	img := filepath.Join(dir, "disk.img")
	table, err := kilnLayout(8<<20, 4<<20, bytes.NewReader(esp), bytes.NewReader(state)).WriteFile(img, 24<<20, testSeed)
	if err != nil {
		t.Fatal(err)
	}
	disk, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]byte{esp, state} {
		p := table.Partitions[i]
		if got := disk[p.Offset : p.Offset+p.Size]; !bytes.Equal(got[:len(want)], want) || !bytes.Equal(got[len(want):], make([]byte, int(p.Size)-len(want))) {
			t.Errorf("partition %q does not hold its content", p.Name)
		}
	}
	return img, table
}

// checkSparse fails if path takes more than max bytes of disk blocks.
func checkSparse(t *testing.T, path string, max int64) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	if used := st.Blocks * 512; used > max {
		t.Errorf("%s uses %d bytes of blocks, want at most %d: not sparse", path, used, max)
	}
}
