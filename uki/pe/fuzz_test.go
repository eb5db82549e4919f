package pe

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse, to the accessors of what it
// returns, and to Assemble as a stub: none of them may panic, and whatever
// Assemble returns must parse.
func FuzzParse(f *testing.F) {
	f.Add(defaultTinyStub())
	f.Add(tinyStub(tinyStubOptions{lfanew: 0x200}))
	if golden, err := os.ReadFile(filepath.Join("testdata", "tiny-uki.efi")); err == nil {
		f.Add(golden)
	}
	f.Add([]byte("MZ"))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Parse(b)
		if err != nil {
			return
		}
		for i := range file.Sections {
			_ = file.SectionData(&file.Sections[i])
		}
		_ = file.SectionsByOffset()
		_ = file.RawEnd()
		_ = Checksum(b, file.CheckSumOffset())
		uki, err := Assemble(Options{Stub: b, Sections: []Section{
			{Name: ".sbat", Data: []byte("kiln,1,Kiln,kiln,1,https://example.invalid/")},
			{Name: ".linux", Data: []byte("kernel")},
		}})
		if err != nil {
			return
		}
		if _, err := Parse(uki); err != nil {
			t.Fatalf("assembled image does not parse: %v", err)
		}
	})
}
