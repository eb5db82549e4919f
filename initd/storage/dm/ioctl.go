package dm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Layout of struct dm_ioctl and struct dm_target_spec on every Linux architecture
// (include/uapi/linux/dm-ioctl.h; sizes and offsets checked with offsetof on x86-64,
// kernel headers 6.1, and in ioctl_test.go).
const (
	headerSize      = 312 // sizeof(struct dm_ioctl)
	offDataSize     = 12
	offDataStart    = 16
	offTargetCount  = 20
	offOpenCount    = 24
	offFlags        = 28
	offEventNr      = 32
	offDev          = 40
	offName         = 48
	offUUID         = 176
	nameLen         = 128 // DM_NAME_LEN
	uuidLen         = 129 // DM_UUID_LEN
	specSize        = 40  // sizeof(struct dm_target_spec)
	offSpecStart    = 0
	offSpecLength   = 8
	offSpecNext     = 20
	offSpecType     = 24
	maxTypeName     = 16 // DM_MAX_TYPE_NAME
	versionMajor    = 4
	versionMinor    = 0
	versionPatch    = 0
	replyBufferSize = 16 << 10
)

// Flags (dm-ioctl.h).
const (
	flagSuspend    = 1 << 1  // DM_SUSPEND_FLAG: without it DM_DEV_SUSPEND resumes
	flagBufferFull = 1 << 8  // DM_BUFFER_FULL_FLAG
	flagSecureData = 1 << 15 // DM_SECURE_DATA_FLAG: wipe kernel copies of the buffer
)

// Commands: _IOWR(DM_IOCTL=0xfd, cmd, struct dm_ioctl).
const (
	cmdDevCreate  = 3
	cmdDevRemove  = 4
	cmdDevSuspend = 6
	cmdTableLoad  = 9
)

func ioctlNumber(cmd uint32) uintptr {
	const iocReadWrite = 3
	return uintptr(iocReadWrite<<30 | headerSize<<16 | 0xfd<<8 | cmd)
}

// request is one ioctl's input.
type request struct {
	name, uuid string
	flags      uint32
	targets    []Target
}

// encode lays out struct dm_ioctl, then for each target a dm_target_spec followed by its
// NUL-terminated params, padded so the next spec is 8-byte aligned ("next" is the
// offset from this spec to the next, as the kernel's next_target() reads it).
func (r request) encode() ([]byte, error) {
	if len(r.name) == 0 || len(r.name) >= nameLen {
		return nil, fmt.Errorf("dm: device name %q must be 1 to %d bytes", r.name, nameLen-1)
	}
	if len(r.uuid) >= uuidLen {
		return nil, fmt.Errorf("dm: uuid %q longer than %d bytes", r.uuid, uuidLen-1)
	}
	var specs []byte
	for _, t := range r.targets {
		spec, err := encodeSpec(t)
		if err != nil {
			return nil, err
		}
		specs = append(specs, spec...)
	}
	size := max(headerSize+len(specs), replyBufferSize)
	buf := make([]byte, size)
	le := binary.LittleEndian
	le.PutUint32(buf[0:], versionMajor)
	le.PutUint32(buf[4:], versionMinor)
	le.PutUint32(buf[8:], versionPatch)
	le.PutUint32(buf[offDataSize:], uint32(size))
	le.PutUint32(buf[offDataStart:], headerSize)
	le.PutUint32(buf[offTargetCount:], uint32(len(r.targets)))
	le.PutUint32(buf[offFlags:], r.flags|flagSecureData)
	copy(buf[offName:offName+nameLen], r.name)
	copy(buf[offUUID:offUUID+uuidLen], r.uuid)
	copy(buf[headerSize:], specs)
	clear(specs)
	return buf, nil
}

func encodeSpec(t Target) ([]byte, error) {
	if len(t.Type) == 0 || len(t.Type) >= maxTypeName {
		return nil, fmt.Errorf("dm: target type %q must be 1 to %d bytes", t.Type, maxTypeName-1)
	}
	if bytes.IndexByte(t.Params, 0) >= 0 {
		return nil, errors.New("dm: target params contain a NUL byte")
	}
	size := (specSize + len(t.Params) + 1 + 7) &^ 7
	spec := make([]byte, size)
	le := binary.LittleEndian
	le.PutUint64(spec[offSpecStart:], t.Start)
	le.PutUint64(spec[offSpecLength:], t.Length)
	le.PutUint32(spec[offSpecNext:], uint32(size))
	copy(spec[offSpecType:offSpecType+maxTypeName], t.Type)
	copy(spec[specSize:], t.Params)
	return spec, nil
}

// reply is what the kernel wrote back into struct dm_ioctl.
type reply struct {
	dev       uint64 // huge_encode_dev: the same encoding as unix.Mkdev for 32-bit parts
	flags     uint32
	openCount int32
}

func decodeReply(buf []byte) reply {
	le := binary.LittleEndian
	return reply{
		dev:       le.Uint64(buf[offDev:]),
		flags:     le.Uint32(buf[offFlags:]),
		openCount: int32(le.Uint32(buf[offOpenCount:])),
	}
}
