package fat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
)

// Errors returned by the reader, wrapped with the path or field at fault.
var (
	ErrFormat   = errors.New("fat: not a FAT volume or a malformed one")
	ErrNotExist = errors.New("fat: no such file or directory")
	ErrIsDir    = errors.New("fat: is a directory")
)

// FS is a FAT12, FAT16 or FAT32 volume opened for reading: the reading half of the
// format this package writes, for volumes of any writer (mkfs.fat, firmware, Windows).
// It reads short and VFAT long names, files and directories; it never writes.
//
// The volume is untrusted (the installer reads the boot image of an ISO it was handed):
// every field of the boot sector is checked before use, every cluster number against
// the cluster count, every chain against a length bound, so a malformed volume gives
// ErrFormat, never a panic, a loop or an allocation larger than the volume.
type FS struct {
	r            io.ReaderAt
	typ          Type
	bytesPerSec  int64
	clusterSize  int64
	fatOffset    int64 // the first FAT
	rootOffset   int64 // FAT12/16: the fixed root directory
	rootEntries  int64 // FAT12/16
	rootCluster  uint32
	dataOffset   int64 // cluster 2
	clusterCount uint32
	size         int64 // the volume, from the boot sector
}

// DirEntry is one entry of a directory.
type DirEntry struct {
	Name  string // the long name if there is one, else the 8.3 name
	IsDir bool
	Size  int64 // bytes; 0 for a directory
	first uint32
}

// maxDirBytes bounds a directory: 65536 entries of 32 bytes (fatgen103, "FAT Directory
// Structure": a directory holds at most 65536 entries).
const maxDirBytes = 65536 * dirEntrySize

// Open reads the boot sector of the volume of size bytes behind r and checks it
// (fatgen103, "Boot Sector and BPB" and "FAT Type Determination").
func Open(r io.ReaderAt, size int64) (*FS, error) {
	b := make([]byte, 512)
	if _, err := r.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("fat: boot sector: %w", err)
	}
	le16 := func(off int) int64 { return int64(binary.LittleEndian.Uint16(b[off:])) }
	le32 := func(off int) int64 { return int64(binary.LittleEndian.Uint32(b[off:])) }
	f := &FS{r: r, bytesPerSec: le16(11)}
	secPerClus, reserved, fats, rootEnts := int64(b[13]), le16(14), int64(b[16]), le16(17)
	sectors, fatSize := le16(19), le16(22)
	if sectors == 0 {
		sectors = le32(32)
	}
	if fatSize == 0 {
		fatSize = le32(36)
	}
	switch bps := f.bytesPerSec; {
	case b[510] != 0x55 || b[511] != 0xAA:
		return nil, fmt.Errorf("%w: no 0x55AA boot signature", ErrFormat)
	case bps != 512 && bps != 1024 && bps != 2048 && bps != 4096:
		return nil, fmt.Errorf("%w: %d bytes per sector", ErrFormat, bps)
	case secPerClus == 0 || secPerClus&(secPerClus-1) != 0 || secPerClus > 128:
		return nil, fmt.Errorf("%w: %d sectors per cluster", ErrFormat, secPerClus)
	case reserved == 0 || fats == 0 || fatSize == 0 || sectors == 0:
		return nil, fmt.Errorf("%w: reserved %d, FATs %d, FAT size %d, sectors %d", ErrFormat, reserved, fats, fatSize, sectors)
	case sectors*f.bytesPerSec > size:
		return nil, fmt.Errorf("%w: %d sectors of %d bytes do not fit in %d bytes", ErrFormat, sectors, f.bytesPerSec, size)
	}
	rootSectors := (rootEnts*dirEntrySize + f.bytesPerSec - 1) / f.bytesPerSec
	dataStart := reserved + fats*fatSize + rootSectors
	if dataStart >= sectors {
		return nil, fmt.Errorf("%w: no data region (%d sectors before it, %d in all)", ErrFormat, dataStart, sectors)
	}
	clusters := (sectors - dataStart) / secPerClus
	f.clusterSize, f.size = secPerClus*f.bytesPerSec, sectors*f.bytesPerSec
	f.fatOffset = reserved * f.bytesPerSec
	f.rootOffset, f.rootEntries = (reserved+fats*fatSize)*f.bytesPerSec, rootEnts
	f.dataOffset, f.clusterCount = dataStart*f.bytesPerSec, uint32(min(clusters, 0x0FFFFFF5))
	switch {
	case clusters < 4085:
		f.typ = FAT12
	case clusters < 65525:
		f.typ = FAT16
	default:
		f.typ = FAT32
		f.rootCluster = uint32(le32(44))
		if rootEnts != 0 || !f.valid(f.rootCluster) {
			return nil, fmt.Errorf("%w: FAT32 root at cluster %d with %d fixed root entries", ErrFormat, f.rootCluster, rootEnts)
		}
	}
	if entryBits := map[Type]int64{FAT12: 12, FAT16: 16, FAT32: 32}[f.typ]; fatSize*f.bytesPerSec*8 < (clusters+2)*entryBits {
		return nil, fmt.Errorf("%w: a FAT of %d sectors cannot map %d clusters", ErrFormat, fatSize, clusters)
	}
	return f, nil
}

// Type is the volume's FAT type, as the cluster count determines it.
func (f *FS) Type() Type { return f.typ }

func (f *FS) valid(c uint32) bool { return c >= 2 && c-2 < f.clusterCount }

// next returns the FAT entry of cluster c (a valid cluster).
func (f *FS) next(c uint32) (uint32, error) {
	var off int64
	var n int
	switch f.typ {
	case FAT12:
		off, n = int64(c)+int64(c)/2, 2
	case FAT16:
		off, n = int64(c)*2, 2
	default:
		off, n = int64(c)*4, 4
	}
	var b [4]byte
	if _, err := f.r.ReadAt(b[:n], f.fatOffset+off); err != nil {
		return 0, fmt.Errorf("fat: FAT entry %d: %w", c, err)
	}
	v := binary.LittleEndian.Uint32(b[:])
	switch f.typ {
	case FAT12:
		if c%2 == 1 {
			v >>= 4
		}
		return v & 0xFFF, nil
	case FAT16:
		return v & 0xFFFF, nil
	}
	return v & 0x0FFFFFFF, nil
}

func (f *FS) endOfChain(v uint32) bool {
	switch f.typ {
	case FAT12:
		return v >= 0xFF8
	case FAT16:
		return v >= 0xFFF8
	}
	return v >= 0x0FFFFFF8
}

// readChain reads the cluster chain from first: exactly n bytes of it with n >= 0 (a
// file, whose chain must be long enough), or the whole chain with n < 0 (a directory),
// which may then hold at most limit bytes. A chain cannot visit more clusters than the
// volume has, so a loop ends as ErrFormat.
func (f *FS) readChain(first uint32, n, limit int64) ([]byte, error) {
	var out []byte
	for c, visited := first, uint32(0); ; visited++ {
		if !f.valid(c) || visited >= f.clusterCount {
			return nil, fmt.Errorf("%w: chain from cluster %d: cluster %d after %d (%d clusters)", ErrFormat, first, c, visited, f.clusterCount)
		}
		k := f.clusterSize
		if n >= 0 {
			k = min(k, n-int64(len(out)))
		} else if int64(len(out))+k > limit {
			return nil, fmt.Errorf("%w: a directory longer than %d bytes", ErrFormat, limit)
		}
		buf := make([]byte, k)
		if _, err := f.r.ReadAt(buf, f.dataOffset+int64(c-2)*f.clusterSize); err != nil {
			return nil, fmt.Errorf("fat: cluster %d: %w", c, err)
		}
		out = append(out, buf...)
		if n >= 0 && int64(len(out)) == n {
			return out, nil
		}
		next, err := f.next(c)
		if err != nil {
			return nil, err
		}
		if f.endOfChain(next) {
			if n >= 0 {
				return nil, fmt.Errorf("%w: chain from cluster %d ends after %d of %d bytes", ErrFormat, first, len(out), n)
			}
			return out, nil
		}
		c = next
	}
}

// dirBytes returns the raw entries of the directory at cluster c (0: the root).
func (f *FS) dirBytes(c uint32) ([]byte, error) {
	if c == 0 && f.typ != FAT32 {
		b := make([]byte, f.rootEntries*dirEntrySize)
		if _, err := f.r.ReadAt(b, f.rootOffset); err != nil {
			return nil, fmt.Errorf("fat: root directory: %w", err)
		}
		return b, nil
	}
	if c == 0 {
		c = f.rootCluster
	}
	return f.readChain(c, -1, maxDirBytes)
}

// ReadDir lists the directory at path ("" or "/" for the root; slash-separated, names
// matched without regard to case as FAT does), without "." and "..".
func (f *FS) ReadDir(path string) ([]DirEntry, error) {
	dir, err := f.lookup(path)
	if err != nil {
		return nil, err
	}
	if !dir.IsDir {
		return nil, fmt.Errorf("%w: %s", ErrNotDir, path)
	}
	return f.entries(dir.first)
}

// ReadFile returns the file at path, refusing one over limit bytes.
func (f *FS) ReadFile(path string, limit int64) ([]byte, error) {
	e, err := f.lookup(path)
	if err != nil {
		return nil, err
	}
	switch {
	case e.IsDir:
		return nil, fmt.Errorf("%w: %s", ErrIsDir, path)
	case e.Size > limit:
		return nil, fmt.Errorf("%w: %s is %d bytes, over %d", ErrTooLarge, path, e.Size, limit)
	case e.Size > f.size:
		return nil, fmt.Errorf("%w: %s claims %d bytes on a %d-byte volume", ErrFormat, path, e.Size, f.size)
	case e.Size == 0:
		return []byte{}, nil
	}
	return f.readChain(e.first, e.Size, e.Size)
}

// lookup walks path from the root.
func (f *FS) lookup(path string) (DirEntry, error) {
	cur := DirEntry{Name: "/", IsDir: true}
	for _, name := range strings.Split(strings.Trim(path, "/"), "/") {
		if name == "" {
			continue
		}
		if !cur.IsDir {
			return DirEntry{}, fmt.Errorf("%w: %s", ErrNotDir, path)
		}
		entries, err := f.entries(cur.first)
		if err != nil {
			return DirEntry{}, err
		}
		found := false
		for _, e := range entries {
			if strings.EqualFold(e.Name, name) {
				cur, found = e, true
				break
			}
		}
		if !found {
			return DirEntry{}, fmt.Errorf("%w: %s", ErrNotExist, path)
		}
	}
	return cur, nil
}

// entries parses a directory (fatgen103, "FAT Directory Structure" and "FAT Long
// Directory Entries").
func (f *FS) entries(c uint32) ([]DirEntry, error) {
	b, err := f.dirBytes(c)
	if err != nil {
		return nil, err
	}
	var out []DirEntry
	var lfn longName
	for i := 0; i+dirEntrySize <= len(b); i += dirEntrySize {
		e := b[i : i+dirEntrySize]
		switch {
		case e[0] == 0x00:
			return out, nil
		case e[0] == 0xE5:
			lfn.reset()
			continue
		case e[11]&0x3F == attrLongName:
			lfn.add(e)
			continue
		case e[11]&attrVolumeID != 0:
			lfn.reset()
			continue
		}
		name := lfn.name(e[:11])
		lfn.reset()
		if name == "" {
			name = shortNameString(e)
		}
		if name == "." || name == ".." {
			continue
		}
		first := uint32(binary.LittleEndian.Uint16(e[26:]))
		if f.typ == FAT32 {
			first |= uint32(binary.LittleEndian.Uint16(e[20:])) << 16
		}
		d := DirEntry{Name: name, IsDir: e[11]&attrDirectory != 0, first: first}
		if !d.IsDir {
			d.Size = int64(binary.LittleEndian.Uint32(e[28:]))
		}
		if (d.IsDir || d.Size > 0) && !f.valid(first) {
			return nil, fmt.Errorf("%w: %q starts at cluster %d", ErrFormat, name, first)
		}
		out = append(out, d)
	}
	return out, nil
}

// shortNameString is the 8.3 name of a short entry, with the NT lower-case flags of
// byte 12 applied (bit 3: base, bit 4: extension), and 0x05 in the first byte read as
// 0xE5.
func shortNameString(e []byte) string {
	raw := []byte(string(e[:11]))
	if raw[0] == 0x05 {
		raw[0] = 0xE5
	}
	base := strings.TrimRight(string(raw[:8]), " ")
	ext := strings.TrimRight(string(raw[8:11]), " ")
	if e[12]&0x08 != 0 {
		base = strings.ToLower(base)
	}
	if e[12]&0x10 != 0 {
		ext = strings.ToLower(ext)
	}
	if ext == "" {
		return base
	}
	return base + "." + ext
}

// longName collects the VFAT long-name slots that precede a short entry: stored last
// slot first, each with its ordinal and the short name's checksum.
type longName struct {
	units    [maxLongName + lfnCharsPerSlot]uint16
	want     int  // the next ordinal expected, counting down to 1
	count    int  // slots in the name
	checksum byte // of the short name they belong to
	ok       bool
}

func (l *longName) reset() { *l = longName{} }

func (l *longName) add(e []byte) {
	ord := int(e[0] &^ lfnLast)
	switch {
	case e[0]&lfnLast != 0 && ord >= 1 && ord*lfnCharsPerSlot <= len(l.units):
		*l = longName{want: ord, count: ord, checksum: e[13], ok: true}
	case !l.ok || ord != l.want || e[13] != l.checksum:
		l.reset()
		return
	}
	base := (ord - 1) * lfnCharsPerSlot
	for i, off := range []int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30} {
		l.units[base+i] = binary.LittleEndian.Uint16(e[off:])
	}
	l.want--
}

// name returns the long name if the slots were complete and belong to short, else "".
func (l *longName) name(short []byte) string {
	if !l.ok || l.want != 0 || l.checksum != shortName(short).checksum() {
		return ""
	}
	u := l.units[:l.count*lfnCharsPerSlot]
	for i, c := range u {
		if c == 0 {
			u = u[:i]
			break
		}
	}
	return string(utf16.Decode(u))
}
