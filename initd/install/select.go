package install

import (
	"fmt"
	"path"
	"strings"

	"github.com/kiln-os/kiln/config"
)

// Select picks the install target from disks: install.disk by its device path, or the
// one disk install.diskSelector matches (every field given must match; globs are
// path.Match, where * does not cross a /). bootDisk is the path of the disk holding the live boot medium ("" after a
// network boot).
//
// It refuses the boot medium, read-only disks, disks under MinDiskSize and disks whose
// logical sectors are not 512 bytes, the GPT writer's only size (ErrRefusedDisk, naming
// the disk and why). A selector only considers the disks that are
// not refused, so ">= 1GB" still picks the one hard disk beside the live USB stick; it
// fails (ErrNoDisk) unless exactly one matches, listing the candidates.
func Select(disks []Disk, in config.Install, bootDisk string) (Disk, error) {
	if in.Disk != "" {
		for _, d := range disks {
			if d.Path == in.Disk {
				if why := refusal(d, bootDisk); why != "" {
					return Disk{}, fmt.Errorf("%w: install.disk %s %s", ErrRefusedDisk, d.Path, why)
				}
				return d, nil
			}
		}
		return Disk{}, fmt.Errorf("%w: install.disk %s is not a disk here; disks: %s", ErrNoDisk, in.Disk, list(disks))
	}
	if in.DiskSelector == (config.DiskSelector{}) {
		return Disk{}, fmt.Errorf("%w: the install section names no disk (install.disk or install.diskSelector)", ErrNoDisk)
	}
	var matched, refused []string
	var pick []Disk
	for _, d := range disks {
		ok, err := matches(d, in.DiskSelector)
		if err != nil {
			return Disk{}, err
		}
		switch why := refusal(d, bootDisk); {
		case !ok:
		case why != "":
			refused = append(refused, d.Path+" "+why)
		default:
			pick = append(pick, d)
			matched = append(matched, d.String())
		}
	}
	if len(pick) == 1 {
		return pick[0], nil
	}
	detail := fmt.Sprintf("install.diskSelector {%s} matches %d disks", selectorString(in.DiskSelector), len(pick))
	if len(matched) > 0 {
		detail += ": " + strings.Join(matched, "; ")
	}
	if len(refused) > 0 {
		detail += "; refused: " + strings.Join(refused, "; ")
	}
	return Disk{}, fmt.Errorf("%w: %s; disks: %s", ErrNoDisk, detail, list(disks))
}

// refusal says why d must not be written, or "".
func refusal(d Disk, bootDisk string) string {
	switch {
	case bootDisk != "" && d.Path == bootDisk:
		return "holds the live boot medium"
	case d.ReadOnly:
		return "is read-only"
	case d.Size < MinDiskSize:
		return fmt.Sprintf("is %d bytes, under the %d (2 GiB) Kiln needs", d.Size, int64(MinDiskSize))
	case d.SectorSize != 0 && d.SectorSize != sector:
		return fmt.Sprintf("has %d-byte logical sectors; Kiln's GPT writer supports %d", d.SectorSize, sector)
	}
	return ""
}

func matches(d Disk, s config.DiskSelector) (bool, error) {
	if s.Size != "" {
		m, err := config.ParseSizeMatcher(s.Size)
		if err != nil {
			return false, fmt.Errorf("install.diskSelector.size: %w", err)
		}
		if !m.Match(d.Size) {
			return false, nil
		}
	}
	if s.Type != "" && s.Type != d.Type {
		return false, nil
	}
	for _, g := range []struct{ field, glob, value string }{
		{"name", s.Name, d.DeviceName}, {"model", s.Model, d.Model}, {"serial", s.Serial, d.Serial},
		{"wwid", s.WWID, d.WWID}, {"busPath", s.BusPath, d.BusPath},
	} {
		if g.glob == "" {
			continue
		}
		ok, err := path.Match(g.glob, g.value)
		if err != nil {
			return false, fmt.Errorf("install.diskSelector.%s: %w", g.field, err)
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

func list(disks []Disk) string {
	if len(disks) == 0 {
		return "none"
	}
	s := make([]string, len(disks))
	for i, d := range disks {
		s[i] = d.String()
	}
	return strings.Join(s, "; ")
}

// selectorString lists the fields given, as the config spells them.
func selectorString(s config.DiskSelector) string {
	var out []string
	for _, f := range []struct{ name, value string }{
		{"size", s.Size}, {"name", s.Name}, {"model", s.Model}, {"serial", s.Serial},
		{"wwid", s.WWID}, {"type", s.Type}, {"busPath", s.BusPath},
	} {
		if f.value != "" {
			out = append(out, fmt.Sprintf("%s: %q", f.name, f.value))
		}
	}
	return strings.Join(out, ", ")
}
