package diag

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/kiln-os/kiln/api/machine"
)

// Mounts reads r.Proc/self/mountinfo (proc(5)): ID, parent, major:minor, root, mount
// point, mount options, optional fields up to "-", then type, source, super options.
func (r Roots) Mounts() ([]*machine.MountInfo, error) {
	path := filepath.Join(r.Proc, "self", "mountinfo")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*machine.MountInfo
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		m, err := parseMountinfo(line)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, i+1, err)
		}
		out = append(out, m)
	}
	return out, nil
}

func parseMountinfo(line string) (*machine.MountInfo, error) {
	f := strings.Fields(line)
	sep := slices.Index(f, "-")
	if sep < 6 || len(f) < sep+3 {
		return nil, fmt.Errorf("%q is not a mountinfo line", firstLine(line))
	}
	opts := strings.Split(f[5], ",")
	return &machine.MountInfo{
		MountPoint:   unescapeOctal(f[4]),
		Options:      opts,
		FsType:       f[sep+1],
		Source:       unescapeOctal(f[sep+2]),
		SuperOptions: strings.Split(f[len(f)-1], ","),
		ReadOnly:     slices.Contains(opts, "ro"),
	}, nil
}

// unescapeOctal undoes the kernel's \040-style escapes of space, tab, newline and '\'.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
