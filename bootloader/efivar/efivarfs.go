package efivar

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf16"

	"github.com/kiln-os/kiln/internal/guid"
)

// EfivarsDir is where Linux mounts efivarfs.
const EfivarsDir = "/sys/firmware/efi/efivars"

// ErrVariable is returned, wrapped, for an efivarfs file too short to hold
// its attributes or a value of the expected shape.
var ErrVariable = errors.New("efivar: malformed variable")

// Read returns the attributes and value of the variable name/vendor from an
// efivarfs directory (EfivarsDir on a node, a plain directory in tests),
// where the file "<name>-<guid>" holds a 4-byte little-endian attribute word
// and then the value. A missing variable is an error that matches
// fs.ErrNotExist.
func Read(dir, name string, vendor guid.GUID) (attrs uint32, data []byte, err error) {
	if name == "" || strings.ContainsAny(name, "/\x00") {
		return 0, nil, fmt.Errorf("efivar: invalid variable name %q", name)
	}
	b, err := os.ReadFile(filepath.Join(dir, name+"-"+vendor.String()))
	if err != nil {
		return 0, nil, err
	}
	if len(b) < 4 {
		return 0, nil, fmt.Errorf("%w: %s is %d bytes, too short for its attributes", ErrVariable, name, len(b))
	}
	return binary.LittleEndian.Uint32(b), b[4:], nil
}

// SecureBootEnabled reports the firmware's SecureBoot variable: true when
// images are verified against db.
func SecureBootEnabled(dir string) (bool, error) {
	return readBool(dir, "SecureBoot")
}

// SetupMode reports the firmware's SetupMode variable: true when no PK is
// enrolled and systemd-boot may enrol Kiln's keys.
func SetupMode(dir string) (bool, error) {
	return readBool(dir, "SetupMode")
}

func readBool(dir, name string) (bool, error) {
	_, data, err := Read(dir, name, GlobalVariable)
	if err != nil {
		return false, err
	}
	if len(data) != 1 || data[0] > 1 {
		return false, fmt.Errorf("%w: %s holds %x, want one byte 0 or 1", ErrVariable, name, data)
	}
	return data[0] == 1, nil
}

// LoaderBootCountPath returns systemd-boot's LoaderBootCountPath: the ESP
// path of the entry it booted after counting a try down, e.g.
// `\EFI\Linux\kiln-0.1.0+2-1.efi`. systemd-boot sets it (volatile) only when
// the entry has a boot counter, so a missing variable (fs.ErrNotExist) means
// the boot needs no blessing.
func LoaderBootCountPath(dir string) (string, error) {
	_, data, err := Read(dir, "LoaderBootCountPath", LoaderVendor)
	if err != nil {
		return "", err
	}
	return decodeUTF16String(data)
}

// LoaderEntrySelected returns systemd-boot's LoaderEntrySelected: the ID of
// the entry it booted (for a UKI in EFI/Linux, its file name in lower case,
// with the counter as it was when systemd-boot read the directory).
func LoaderEntrySelected(dir string) (string, error) {
	_, data, err := Read(dir, "LoaderEntrySelected", LoaderVendor)
	if err != nil {
		return "", err
	}
	return decodeUTF16String(data)
}

// decodeUTF16String decodes a NUL-terminated UTF-16LE string, as
// systemd-boot stores its string variables.
func decodeUTF16String(b []byte) (string, error) {
	if len(b)%2 != 0 {
		return "", fmt.Errorf("%w: UTF-16 string of odd length %d", ErrVariable, len(b))
	}
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i < len(b); i += 2 {
		u = append(u, binary.LittleEndian.Uint16(b[i:]))
	}
	n := len(u)
	for i, c := range u {
		if c == 0 {
			n = i
			break
		}
	}
	if n == len(u) {
		return "", fmt.Errorf("%w: UTF-16 string without its NUL", ErrVariable)
	}
	return string(utf16.Decode(u[:n])), nil
}
