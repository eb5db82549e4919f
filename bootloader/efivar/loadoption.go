package efivar

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"

	"github.com/kiln-os/kiln/internal/guid"
)

// LoadOptionActive is LOAD_OPTION_ACTIVE: the firmware may boot the option.
const LoadOptionActive uint32 = 0x00000001

// AttrsBootOption are the attributes of Boot####, BootOrder and BootNext: non-volatile,
// boot service and runtime access (UEFI 2.10 §3.3, Table 3.1).
const AttrsBootOption = AttrNonVolatile | AttrBootServiceAccess | AttrRuntimeAccess

// HardDrive is a Hard Drive Media Device Path node for a GPT partition (UEFI 2.10
// §10.3.5.1): the partition the firmware looks for by its unique GUID.
type HardDrive struct {
	PartitionNumber uint32    // 1-based
	Start, Size     uint64    // in logical blocks
	PartitionGUID   guid.GUID // the GPT entry's unique partition GUID
}

// LoadOption is an EFI_LOAD_OPTION (UEFI 2.10 §3.1.3) that boots FilePath on a GPT
// partition: Boot#### as firmware setup and efibootmgr write it.
type LoadOption struct {
	Attributes  uint32 // LoadOptionActive
	Description string
	Disk        HardDrive
	FilePath    string // backslash-separated, e.g. \EFI\BOOT\BOOTX64.EFI
	// Network names the first network node of a parsed option's device path ("MAC",
	// "IPv4", "IPv6" or "URI"; UEFI 2.10 §10.3.4, messaging subtypes 11, 12, 13, 24):
	// an option that boots over the network, as OVMF's "UEFI PXEv4" and "UEFI HTTPv4".
	// MarshalBinary ignores it.
	Network string
}

// Device path node types (UEFI 2.10 §10.2, §10.3.1, §10.3.5).
const (
	dpMedia         = 0x04
	dpHardDrive     = 0x01
	dpFilePath      = 0x04
	dpEnd           = 0x7f
	dpEndEntire     = 0xff
	hardDriveLen    = 42
	partFormatGPT   = 0x02 // PartitionFormat: GUID Partition Table
	signatureGUID   = 0x02 // SignatureType: GUID
	endLen          = 4
	loadOptionFixed = 6 // Attributes (4) and FilePathListLength (2)
)

// dpMessaging is the Messaging Device Path type; networkNodes names its network subtypes
// (UEFI 2.10 §10.3.4.5, .12, .13, .23).
const dpMessaging = 0x03

var networkNodes = map[byte]string{11: "MAC", 12: "IPv4", 13: "IPv6", 24: "URI"}

// ErrLoadOption is returned, wrapped, for a load option that does not parse or encode.
var ErrLoadOption = errors.New("efivar: malformed load option")

// MarshalBinary encodes the option: Attributes (UINT32), FilePathListLength (UINT16),
// Description (NUL-terminated UTF-16LE), then the device path list: the Hard Drive node,
// a File Path node (NUL-terminated UTF-16LE path) and the End Entire Device Path node.
// There is no OptionalData.
func (o LoadOption) MarshalBinary() ([]byte, error) {
	if o.FilePath == "" || o.FilePath[0] != '\\' || strings.ContainsAny(o.FilePath, "/\x00") {
		return nil, fmt.Errorf("%w: file path %q must start with \\ and use \\ separators", ErrLoadOption, o.FilePath)
	}
	path := encodeUTF16z(o.FilePath)
	dp := make([]byte, 0, hardDriveLen+4+len(path)+endLen)
	dp = append(dp, dpMedia, dpHardDrive)
	dp = binary.LittleEndian.AppendUint16(dp, hardDriveLen)
	dp = binary.LittleEndian.AppendUint32(dp, o.Disk.PartitionNumber)
	dp = binary.LittleEndian.AppendUint64(dp, o.Disk.Start)
	dp = binary.LittleEndian.AppendUint64(dp, o.Disk.Size)
	var sig [16]byte
	o.Disk.PartitionGUID.PutEFI(sig[:])
	dp = append(dp, sig[:]...)
	dp = append(dp, partFormatGPT, signatureGUID)
	if len(path)+4 > 0xffff {
		return nil, fmt.Errorf("%w: file path too long", ErrLoadOption)
	}
	dp = append(dp, dpMedia, dpFilePath)
	dp = binary.LittleEndian.AppendUint16(dp, uint16(4+len(path)))
	dp = append(dp, path...)
	dp = append(dp, dpEnd, dpEndEntire)
	dp = binary.LittleEndian.AppendUint16(dp, endLen)

	b := binary.LittleEndian.AppendUint32(nil, o.Attributes)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(dp)))
	b = append(b, encodeUTF16z(o.Description)...)
	return append(b, dp...), nil
}

// ParseLoadOption decodes what MarshalBinary writes, and the Boot#### of other tools
// as far as Kiln needs: the description, and the first Hard Drive and File Path nodes
// of the first device path (other nodes are skipped; an option without them has a
// zero Disk or an empty FilePath). Every length is checked against the data.
func ParseLoadOption(b []byte) (LoadOption, error) {
	var o LoadOption
	if len(b) < loadOptionFixed {
		return o, fmt.Errorf("%w: %d bytes", ErrLoadOption, len(b))
	}
	o.Attributes = binary.LittleEndian.Uint32(b)
	dpLen := int(binary.LittleEndian.Uint16(b[4:]))
	desc, rest, err := cutUTF16z(b[loadOptionFixed:])
	if err != nil {
		return o, err
	}
	o.Description = desc
	if dpLen > len(rest) {
		return o, fmt.Errorf("%w: device path list of %d bytes, %d left", ErrLoadOption, dpLen, len(rest))
	}
	for dp := rest[:dpLen]; len(dp) > 0; {
		if len(dp) < 4 {
			return o, fmt.Errorf("%w: truncated device path node", ErrLoadOption)
		}
		typ, sub, n := dp[0], dp[1], int(binary.LittleEndian.Uint16(dp[2:]))
		if n < 4 || n > len(dp) {
			return o, fmt.Errorf("%w: device path node of length %d, %d bytes left", ErrLoadOption, n, len(dp))
		}
		node := dp[4:n]
		switch {
		case typ == dpEnd && sub == dpEndEntire:
			return o, nil
		case typ == dpMedia && sub == dpHardDrive && n == hardDriveLen && o.Disk == (HardDrive{}):
			o.Disk = HardDrive{
				PartitionNumber: binary.LittleEndian.Uint32(node),
				Start:           binary.LittleEndian.Uint64(node[4:]),
				Size:            binary.LittleEndian.Uint64(node[12:]),
				PartitionGUID:   guid.FromEFI(node[20:36]),
			}
		case typ == dpMessaging && networkNodes[sub] != "" && o.Network == "":
			o.Network = networkNodes[sub]
		case typ == dpMedia && sub == dpFilePath && o.FilePath == "":
			if o.FilePath, _, err = cutUTF16z(node); err != nil {
				return o, err
			}
		}
		dp = dp[n:]
	}
	return o, nil
}

func encodeUTF16z(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return append(b, 0, 0)
}

// cutUTF16z decodes a NUL-terminated UTF-16LE string at the start of b and returns it
// with the bytes after the NUL.
func cutUTF16z(b []byte) (string, []byte, error) {
	var u []uint16
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			return string(utf16.Decode(u)), b[i+2:], nil
		}
		u = append(u, c)
	}
	return "", nil, fmt.Errorf("%w: UTF-16 string without its NUL", ErrLoadOption)
}
