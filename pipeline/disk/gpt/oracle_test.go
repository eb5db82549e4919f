package gpt

// Oracle tests: sgdisk (gdisk) verifies and prints the tables, sfdisk
// (fdisk) reads them as JSON, and mtools reads the FAT inside the ESP.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/guid"
	"github.com/kiln-os/kiln/internal/oracle"
)

func requireTool(t *testing.T, name, pkg string) { oracle.Require(t, name, pkg) }

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// TestSgdisk checks the Kiln layout with contents: sgdisk -v finds no
// problem, and -p and -i show our names, types, sectors and GUIDs.
func TestSgdisk(t *testing.T) {
	requireTool(t, "sgdisk", "gdisk")
	img, table := writeKilnDisk(t)
	if out := run(t, "sgdisk", "-v", img); !strings.Contains(out, "No problems found.") {
		t.Errorf("sgdisk -v:\n%s", out)
	}
	printed := run(t, "sgdisk", "-p", img)
	if !strings.Contains(printed, "Disk identifier (GUID): "+table.DiskGUID.Upper()) {
		t.Errorf("sgdisk -p does not show disk GUID %v:\n%s", table.DiskGUID, printed)
	}
	codes := []string{"EF00", "8300", "8300"}
	for i, p := range table.Partitions {
		first, last := p.Offset/sectorSize, (p.Offset+p.Size)/sectorSize-1
		row := fmt.Sprintf("%d %d %d", i+1, first, last)
		if !strings.Contains(strings.Join(strings.Fields(printed), " "), row) || !strings.Contains(printed, codes[i]+"  "+p.Name) {
			t.Errorf("sgdisk -p lacks partition %q (%s, code %s):\n%s", p.Name, row, codes[i], printed)
		}
		info := run(t, "sgdisk", "-i", fmt.Sprint(i+1), img)
		if !strings.Contains(info, "Partition unique GUID: "+p.GUID.Upper()) || !strings.Contains(info, "Partition name: '"+p.Name+"'") {
			t.Errorf("sgdisk -i %d:\n%s\nwant GUID %v", i+1, info, p.GUID)
		}
	}
}

type sfdiskDump struct {
	Table struct {
		Label      string `json:"label"`
		ID         string `json:"id"`
		FirstLBA   int64  `json:"firstlba"`
		LastLBA    int64  `json:"lastlba"`
		SectorSize int    `json:"sectorsize"`
		Partitions []struct {
			Start int64  `json:"start"`
			Size  int64  `json:"size"`
			Type  string `json:"type"`
			UUID  string `json:"uuid"`
			Name  string `json:"name"`
		} `json:"partitions"`
	} `json:"partitiontable"`
}

// TestSfdiskJSON compares sfdisk's reading of every field with the Table.
func TestSfdiskJSON(t *testing.T) {
	requireTool(t, "sfdisk", "fdisk")
	img, table := writeKilnDisk(t)
	var dump sfdiskDump
	if err := json.Unmarshal([]byte(run(t, "sfdisk", "--json", img)), &dump); err != nil {
		t.Fatal(err)
	}
	got := dump.Table
	if got.Label != "gpt" || got.ID != table.DiskGUID.Upper() || got.SectorSize != 512 ||
		got.FirstLBA != 34 || got.LastLBA != table.Sectors-34 || len(got.Partitions) != 3 {
		t.Fatalf("sfdisk --json: %+v", got)
	}
	types := []guid.GUID{EFISystem, LinuxFilesystem, LinuxFilesystem}
	for i, p := range got.Partitions {
		want := table.Partitions[i]
		if p.Start != want.Offset/sectorSize || p.Size != want.Size/sectorSize || p.Type != types[i].Upper() ||
			p.UUID != want.GUID.Upper() || p.Name != want.Name {
			t.Errorf("partition %d: sfdisk %+v, want %+v type %v", i+1, p, want, types[i])
		}
	}
}

// TestESPContent reads the FAT volume in partition 1 with mtools, at the
// offset Write returned.
func TestESPContent(t *testing.T) {
	requireTool(t, "mdir", "mtools")
	img, table := writeKilnDisk(t)
	out := run(t, "mdir", "-i", fmt.Sprintf("%s@@%d", img, table.Partitions[0].Offset), "-b", "::/EFI/BOOT")
	if !strings.Contains(out, "BOOTX64.EFI") {
		t.Errorf("mdir in the ESP:\n%s", out)
	}
}

// TestFullSizeLayout is the shipped layout (512 MiB ESP, 100 MiB STATE,
// EPHEMERAL the rest) on a 2 GiB disk: it must verify, and stay sparse.
func TestFullSizeLayout(t *testing.T) {
	requireTool(t, "sgdisk", "gdisk")
	img := t.TempDir() + "/disk.img"
	l := kilnLayout(512<<20, 100<<20, nil, nil)
	if _, err := l.WriteFile(img, 2<<30, []byte("kiln 0.1.0")); err != nil {
		t.Fatal(err)
	}
	if out := run(t, "sgdisk", "-v", img); !strings.Contains(out, "No problems found.") {
		t.Errorf("sgdisk -v:\n%s", out)
	}
	checkSparse(t, img, 1<<20)
}
