package pe

import "encoding/binary"

// Checksum computes the PE image checksum of b as the optional header's
// CheckSum field holds it: the 16-bit one's-complement-style sum of the file
// taken as little-endian words (an odd last byte is padded with zero), with
// the 4 bytes of the CheckSum field at checksumOffset counted as zero, plus
// the file length. checksumOffset is File.CheckSumOffset.
func Checksum(b []byte, checksumOffset int) uint32 {
	var sum uint64
	for i := 0; i < len(b); i += 2 {
		sum += uint64(checksumWord(b, i, checksumOffset))
		sum = (sum & 0xffff) + (sum >> 16)
	}
	sum = (sum & 0xffff) + (sum >> 16)
	return uint32(sum) + uint32(len(b))
}

// checksumWord is the little-endian word at i, with the bytes of the
// CheckSum field read as zero.
func checksumWord(b []byte, i, checksumOffset int) uint16 {
	if i+1 < len(b) && (i+1 < checksumOffset || i >= checksumOffset+4) {
		return binary.LittleEndian.Uint16(b[i:])
	}
	var w uint16
	for j := i; j < i+2 && j < len(b); j++ {
		if j < checksumOffset || j >= checksumOffset+4 {
			w |= uint16(b[j]) << (8 * (j - i))
		}
	}
	return w
}

// UpdateChecksum recomputes the CheckSum of the image b, whose checksum field
// is at checksumOffset, and writes it in place.
func UpdateChecksum(b []byte, checksumOffset int) {
	binary.LittleEndian.PutUint32(b[checksumOffset:], Checksum(b, checksumOffset))
}
