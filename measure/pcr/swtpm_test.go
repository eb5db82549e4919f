package pcr

// Oracle tests: a software TPM (swtpm) computes the Name of the PCR key and
// the policy digests in trial sessions, from raw TPM 2.0 commands.

import (
	"bytes"
	"crypto"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/kiln-os/kiln/internal/oracle"
)

// startSwtpm runs swtpm for the test and returns a connection to it.
func startSwtpm(t *testing.T) net.Conn {
	t.Helper()
	conn, err := net.Dial("unix", oracle.Swtpm(t))
	if err != nil {
		t.Fatalf("swtpm: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	return conn
}

// tpmCall sends a command without sessions and returns the response
// parameters (after the 10-byte header).
func tpmCall(t *testing.T, conn io.ReadWriter, cc uint32, body ...[]byte) []byte {
	t.Helper()
	payload := bytes.Join(body, nil)
	cmd := binary.BigEndian.AppendUint16(nil, 0x8001) // TPM_ST_NO_SESSIONS
	cmd = binary.BigEndian.AppendUint32(cmd, uint32(10+len(payload)))
	cmd = binary.BigEndian.AppendUint32(cmd, cc)
	if _, err := conn.Write(append(cmd, payload...)); err != nil {
		t.Fatalf("TPM command %#x: %v", cc, err)
	}
	header := make([]byte, 10)
	if _, err := io.ReadFull(conn, header); err != nil {
		t.Fatalf("TPM command %#x: %v", cc, err)
	}
	rest := make([]byte, binary.BigEndian.Uint32(header[2:])-10)
	if _, err := io.ReadFull(conn, rest); err != nil {
		t.Fatalf("TPM command %#x: %v", cc, err)
	}
	if rc := binary.BigEndian.Uint32(header[6:]); rc != 0 {
		t.Fatalf("TPM command %#x: response code %#x", cc, rc)
	}
	return rest
}

func u16(v int) []byte    { return binary.BigEndian.AppendUint16(nil, uint16(v)) }
func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func tpm2b(b []byte) []byte {
	return append(u16(len(b)), b...)
}

// untpm2b returns the contents of the TPM2B at the start of b.
func untpm2b(t *testing.T, b []byte) []byte {
	t.Helper()
	if len(b) < 2 || len(b) < 2+int(binary.BigEndian.Uint16(b)) {
		t.Fatalf("short TPM2B: %x", b)
	}
	return b[2 : 2+binary.BigEndian.Uint16(b)]
}

const (
	rhNull  = 0x40000007
	rhOwner = 0x40000001
)

// trialSession starts a SHA-256 trial policy session and returns its handle.
func trialSession(t *testing.T, conn net.Conn) []byte {
	t.Helper()
	resp := tpmCall(t, conn, 0x176, // TPM2_StartAuthSession
		u32(rhNull), u32(rhNull), tpm2b(make([]byte, 16)), tpm2b(nil),
		[]byte{0x03}, u16(0x0010), u16(0x000B)) // trial, no symmetric, SHA-256
	return resp[:4]
}

func policyDigest(t *testing.T, conn net.Conn, session []byte) []byte {
	t.Helper()
	digest := untpm2b(t, tpmCall(t, conn, 0x189, session)) // TPM2_PolicyGetDigest
	tpmCall(t, conn, 0x165, session)                       // TPM2_FlushContext
	return digest
}

func TestSwtpmName(t *testing.T) {
	conn := startSwtpm(t)
	pub := testPublicKey(t)
	area, err := RSAPublicArea(pub)
	if err != nil {
		t.Fatal(err)
	}
	resp := tpmCall(t, conn, 0x167, tpm2b(nil), tpm2b(area), u32(rhOwner)) // TPM2_LoadExternal
	tpmName := untpm2b(t, resp[4:])
	name, err := RSAPublicName(pub)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(name, tpmName) {
		t.Errorf("RSAPublicName = %x, swtpm says %x", name, tpmName)
	}
}

func TestSwtpmPolicyAuthorize(t *testing.T) {
	conn := startSwtpm(t)
	name, err := RSAPublicName(testPublicKey(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"", "kiln"} {
		session := trialSession(t, conn)
		ticket := append(append(u16(0x8022), u32(rhNull)...), tpm2b(nil)...) // TPMT_TK_VERIFIED, unchecked in trial
		tpmCall(t, conn, 0x16A, session, tpm2b(make([]byte, 32)), tpm2b([]byte(ref)), tpm2b(name), ticket)
		if got, want := PolicyAuthorizeDigest(name, []byte(ref)), policyDigest(t, conn, session); !bytes.Equal(got, want) {
			t.Errorf("PolicyAuthorizeDigest(name, %q) = %x, swtpm says %x", ref, got, want)
		}
	}
}

func TestSwtpmPolicyPCR(t *testing.T) {
	conn := startSwtpm(t)
	for _, bank := range []crypto.Hash{crypto.SHA256, crypto.SHA384} {
		indexes := []int{11, 7}
		values := [][]byte{bytes.Repeat([]byte{0x11}, bank.Size()), bytes.Repeat([]byte{0x07}, bank.Size())}
		selection, err := MarshalPCRSelection(bank, indexes)
		if err != nil {
			t.Fatal(err)
		}
		concatenated := append(append([]byte(nil), values[1]...), values[0]...)
		session := trialSession(t, conn)
		tpmCall(t, conn, 0x17F, session, tpm2b(digest(PolicyHash, concatenated)), selection)
		want := policyDigest(t, conn, session)
		got, err := PolicyPCRDigest(bank, indexes, values)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("PolicyPCRDigest(%v, %v) = %x, swtpm says %x", bank, indexes, got, want)
		}
	}
}
