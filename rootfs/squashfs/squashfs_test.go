package squashfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/klauspost/compress/zstd"
)

func TestOptionsErrors(t *testing.T) {
	for name, opts := range map[string]Options{
		"no ModTime":          {},
		"ModTime before 1970": {ModTime: time.Unix(-1, 0)},
		"ModTime after 2106":  {ModTime: time.Unix(1<<32, 0)},
		"BlockSize not pow2":  {ModTime: testTime, BlockSize: 100000},
		"BlockSize too small": {ModTime: testTime, BlockSize: 2048},
		"BlockSize too large": {ModTime: testTime, BlockSize: 2 << 20},
		"Compression unknown": {ModTime: testTime, Compression: 42},
	} {
		w := NewWriter(io.Discard, opts)
		err := w.AddDir("etc", 0o755)
		if !errors.Is(err, ErrOptions) {
			t.Errorf("%s: AddDir error %v, want ErrOptions", name, err)
		}
		if err2 := w.Close(); err2 != err {
			t.Errorf("%s: Close error %v, want the sticky %v", name, err2, err)
		}
	}
}

func TestAddErrors(t *testing.T) {
	cases := []struct {
		name  string
		setup []entry
		add   entry
		want  error
	}{
		{"duplicate file", []entry{fileEntry("a", 0o644, nil)}, fileEntry("a", 0o644, nil), ErrExist},
		{"file over dir", []entry{dirEntry("a", 0o755)}, linkEntry("a", "b"), ErrExist},
		{"dir over file", []entry{fileEntry("a", 0o644, nil)}, dirEntry("a", 0o755), ErrNotDir},
		{"dir twice", []entry{dirEntry("a", 0o755)}, dirEntry("/a", 0o700), ErrExist},
		{"root twice", []entry{dirEntry(".", 0o755)}, dirEntry("/", 0o700), ErrExist},
		{"file as root", nil, fileEntry("/", 0o644, nil), ErrExist},
		{"parent is file", []entry{fileEntry("a", 0o644, nil)}, fileEntry("a/b", 0o644, nil), ErrNotDir},
		{"dotdot", nil, fileEntry("a/../b", 0o644, nil), ErrPath},
		{"empty element", nil, fileEntry("a//b", 0o644, nil), ErrPath},
		{"trailing slash", nil, dirEntry("a/", 0o755), ErrPath},
		{"NUL", nil, fileEntry("a\x00b", 0o644, nil), ErrPath},
		{"name too long", nil, fileEntry(strings.Repeat("x", 257), 0o644, nil), ErrPath},
		{"unix sticky bit", nil, dirEntry("tmp", 0o1777), ErrMode},
		{"wrong type bit", nil, fileEntry("a", fs.ModeDir|0o755, nil), ErrMode},
		{"empty target", nil, linkEntry("a", ""), ErrTarget},
		{"long target", nil, linkEntry("a", strings.Repeat("x", 4096)), ErrTarget},
	}
	for _, tc := range cases {
		w := NewWriter(io.Discard, Options{ModTime: testTime})
		for _, e := range tc.setup {
			if err := e.addTo(w); err != nil {
				t.Fatalf("%s: setup %s: %v", tc.name, e.path, err)
			}
		}
		err := tc.add.addTo(w)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
		}
		var pathErr *fs.PathError
		if !errors.As(err, &pathErr) || pathErr.Path != tc.add.path {
			t.Errorf("%s: error %v does not name the path %q", tc.name, err, tc.add.path)
		}
	}
}

func TestNameOf256BytesIsAllowed(t *testing.T) {
	w := NewWriter(io.Discard, Options{ModTime: testTime})
	if err := w.AddFile(strings.Repeat("x", 256), 0o644, strings.NewReader("")); err != nil {
		t.Fatal(err)
	}
}

func TestReadErrorIsReported(t *testing.T) {
	w := NewWriter(io.Discard, Options{ModTime: testTime})
	boom := errors.New("boom")
	err := w.AddFile("a", 0o644, iotest.ErrReader(boom))
	var pathErr *fs.PathError
	if !errors.Is(err, boom) || !errors.As(err, &pathErr) || pathErr.Op != "read" {
		t.Errorf("error %v, want read a: boom", err)
	}
}

func TestCloseIsFinal(t *testing.T) {
	w := NewWriter(io.Discard, Options{ModTime: testTime})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := w.AddDir("a", 0o755); !errors.Is(err, ErrClosed) {
		t.Errorf("AddDir after Close: %v, want ErrClosed", err)
	}
}

func TestWriteErrorIsReported(t *testing.T) {
	w := NewWriter(failingWriter{}, Options{ModTime: testTime})
	if err := w.Close(); !errors.Is(err, errDiskFull) {
		t.Errorf("Close error %v, want %v", err, errDiskFull)
	}
}

var errDiskFull = errors.New("disk full")

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errDiskFull }

// rawSuperblock mirrors the on-disk superblock for decoding in tests.
type rawSuperblock struct {
	Magic, Inodes, Mtime, BlockSize, Fragments            uint32
	Compression, BlockLog, Flags, IDs, Major, Minor       uint16
	RootInode, BytesUsed, IDTable, XattrTable, InodeTable uint64
	DirTable, FragTable, ExportTable                      uint64
}

func TestSuperblock(t *testing.T) {
	img := buildImage(t, Options{ModTime: testTime, BlockSize: 64 << 10}, tinyEntries())
	var sb rawSuperblock
	if err := binary.Read(bytes.NewReader(img), binary.LittleEndian, &sb); err != nil {
		t.Fatal(err)
	}
	want := rawSuperblock{
		Magic: 0x73717368, Inodes: 9, Mtime: uint32(testTime.Unix()), BlockSize: 64 << 10, Fragments: 1,
		Compression: compZstd, BlockLog: 16, Flags: flagNoXattrs | flagAlwaysFragments, IDs: 1, Major: 4,
		XattrTable: noTable, ExportTable: noTable,
	}
	got := sb
	got.RootInode, got.BytesUsed, got.IDTable, got.InodeTable, got.DirTable, got.FragTable = 0, 0, 0, 0, 0, 0
	if got != want {
		t.Errorf("superblock\n got %+v\nwant %+v (table fields not compared)", got, want)
	}
	if len(img)%4096 != 0 || sb.BytesUsed > uint64(len(img)) || uint64(len(img))-sb.BytesUsed >= 4096 {
		t.Errorf("image is %d bytes for bytes_used %d, want it padded to 4 KiB", len(img), sb.BytesUsed)
	}
	// The kernel requires this order and that the id index ends the image.
	order := []uint64{superblockSize, sb.InodeTable, sb.DirTable, sb.FragTable, sb.IDTable}
	for i := 1; i < len(order); i++ {
		if order[i-1] >= order[i] {
			t.Errorf("tables out of order: %v (data, inode, dir, fragment index, id index)", order)
		}
	}
	if sb.IDTable+8 != sb.BytesUsed {
		t.Errorf("id index at %d does not end the image at %d", sb.IDTable, sb.BytesUsed)
	}
}

func TestSplitRuns(t *testing.T) {
	nodes := func(n int, block uint64, firstIno uint32) []*node {
		var list []*node
		for i := range n {
			list = append(list, &node{ino: firstIno + uint32(i), ref: metaRef{block: block}})
		}
		return list
	}
	runLens := func(runs []dirRun) []int {
		var lens []int
		for _, r := range runs {
			lens = append(lens, len(r.entries))
		}
		return lens
	}
	cases := map[string]struct {
		entries []*node
		want    []int
	}{
		"256 per header":  {nodes(600, 0, 1), []int{256, 256, 88}},
		"inode block":     {append(nodes(3, 0, 1), nodes(2, 8000, 4)...), []int{3, 2}},
		"inode distance":  {append(nodes(2, 0, 1), nodes(2, 0, 40000)...), []int{2, 2}},
		"distance -32768": {append(nodes(1, 0, 40000), nodes(1, 0, 40000-32768)...), []int{2}},
		"empty":           {nil, nil},
	}
	for name, tc := range cases {
		if got := runLens(splitRuns(tc.entries)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: runs %v, want %v", name, got, tc.want)
		}
	}
}

func TestFileInodeLayouts(t *testing.T) {
	header := func() []byte { return make([]byte, 16) }
	small := &fileData{size: 5 << 20, start: 96, frag: noFragment, blocks: make([]dataBlock, 40)}
	if b := fileInode(header(), small, 1); binary.LittleEndian.Uint16(b) != 0 || len(b) != 16+16+40*4 {
		t.Errorf("basic file inode: type %d, %d bytes", binary.LittleEndian.Uint16(b), len(b))
	}
	far := &fileData{size: 5 << 20, start: 5 << 30, frag: noFragment, blocks: make([]dataBlock, 40)}
	if b := fileInode(header(), far, 1); binary.LittleEndian.Uint16(b) != typeExtFile || len(b) != 16+40+40*4 {
		t.Errorf("file beyond 4 GiB: type %d, %d bytes, want extended", binary.LittleEndian.Uint16(b), len(b))
	}
}

// TestMetaWriter decodes the blocks of a table that straddles blocks and
// checks the positions handed out on the way.
func TestMetaWriter(t *testing.T) {
	codec, err := newZstdCodec(DefaultBlockSize)
	if err != nil {
		t.Fatal(err)
	}
	m := metaWriter{codec: codec}
	var stream []byte
	var refs []metaRef
	for i := range 3000 {
		rec := []byte(strings.Repeat(string(rune('a'+i%26)), i%13+1))
		refs = append(refs, m.pos())
		m.write(rec)
		stream = append(stream, rec...)
	}
	noise := randomBytes(rand.New(rand.NewPCG(7, 8)), 2*metaBlockSize) // stored as is
	m.write(noise)
	stream = append(stream, noise...)
	blocks, starts := decodeMeta(t, m.bytes())
	if !slices.Equal(starts, m.starts) {
		t.Errorf("block starts %v, want %v", m.starts, starts)
	}
	if got := bytes.Join(blocks, nil); !bytes.Equal(got, stream) {
		t.Fatalf("decoded %d bytes, want %d", len(got), len(stream))
	}
	blockIndex := map[uint64]int{}
	for i, s := range starts {
		blockIndex[s] = i
	}
	offset := 0
	for i, ref := range refs {
		if at := blockIndex[ref.block]*metaBlockSize + int(ref.offset); at != offset {
			t.Fatalf("record %d at %d, ref says %d", i, offset, at)
		}
		offset += i%13 + 1
	}
}

func decodeMeta(t *testing.T, table []byte) (blocks [][]byte, starts []uint64) {
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	for at := 0; at < len(table); {
		header := binary.LittleEndian.Uint16(table[at:])
		size := int(header &^ metaUncompressed)
		data := table[at+2 : at+2+size]
		if header&metaUncompressed == 0 {
			if data, err = dec.DecodeAll(data, nil); err != nil {
				t.Fatalf("block at %d: %v", at, err)
			}
		}
		if len(data) > metaBlockSize {
			t.Fatalf("block at %d holds %d bytes", at, len(data))
		}
		starts = append(starts, uint64(at))
		blocks = append(blocks, data)
		at += 2 + size
	}
	return blocks, starts
}
