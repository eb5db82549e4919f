package machineapi

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/initd/pcrphase"
	"github.com/kiln-os/kiln/initd/tpmquote"
	"github.com/kiln-os/kiln/initd/tpmseal"
)

// PCRReader reads the TPM for PCRRead.
type PCRReader interface {
	// Banks lists the active PCR banks ("sha256", ...); none means no TPM.
	Banks() []string
	// Read returns the value of PCR index in bank.
	Read(bank string, index uint32) ([]byte, error)
	// EventLog returns the firmware's TCG event log (nil when there is none).
	EventLog() ([]byte, error)
	// Quote has the TPM sign pcrs in bank with nonce as qualifying data and returns
	// what initd/tpmquote.Quote returns.
	Quote(nonce []byte, bank string, pcrs []uint32) (attest, signature, akPublic []byte, err error)
}

// SysfsTPM reads PCRs from the kernel's sysfs files (Linux 5.12+) and the event log from
// securityfs; only quotes talk to the TPM, through its resource manager Device.
type SysfsTPM struct {
	Dir          string // /sys/class/tpm/tpm0
	EventLogPath string // /sys/kernel/security/tpm0/binary_bios_measurements
	Device       string // /dev/tpmrm0
}

// DefaultTPM is the first TPM's sysfs and securityfs files and its resource manager.
var DefaultTPM = SysfsTPM{
	Dir:          "/sys/class/tpm/tpm0",
	EventLogPath: "/sys/kernel/security/tpm0/binary_bios_measurements",
	Device:       tpmseal.Device,
}

// Banks lists the banks the kernel exports (pcrphase.Banks).
func (t SysfsTPM) Banks() []string { return pcrphase.Banks(t.Dir) }

// Read reads one PCR's hex file.
func (t SysfsTPM) Read(bank string, index uint32) ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(t.Dir, "pcr-"+bank, strconv.Itoa(int(index))))
	if err != nil {
		return nil, err
	}
	return hex.DecodeString(strings.TrimSpace(string(data)))
}

// EventLog returns the firmware event log, or nil when the firmware left none.
func (t SysfsTPM) EventLog() ([]byte, error) {
	data, err := os.ReadFile(t.EventLogPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return data, err
}

// Quote opens Device and quotes with initd/tpmquote.
func (t SysfsTPM) Quote(nonce []byte, bank string, pcrs []uint32) (attest, signature, akPublic []byte, err error) {
	tpm, err := tpmseal.Open(t.Device)
	if err != nil {
		return nil, nil, nil, err
	}
	defer tpm.Close()
	return tpmquote.Quote(tpm, nonce, bank, pcrs)
}

// maxPCR is the highest PCR index of a PC client TPM.
const maxPCR = 23

// PCRRead returns the PCR values the request names, and the firmware event log.
func (s *Server) PCRRead(ctx context.Context, req *machine.PCRReadRequest) (*machine.PCRReadResponse, error) {
	if s.TPM == nil || len(s.TPM.Banks()) == 0 {
		return nil, status.Error(codes.FailedPrecondition, "this node has no TPM 2.0 (or the kernel does not expose it)")
	}
	banks, err := selectBanks(s.TPM.Banks(), req.GetBanks())
	if err != nil {
		return nil, err
	}
	pcrs, err := selectPCRs(req.GetPcrs())
	if err != nil {
		return nil, err
	}
	var resp *machine.PCRReadResponse
	if len(req.GetNonce()) > 0 {
		resp, err = quotePCRs(s.TPM, req, pcrs)
	} else {
		resp, err = readPCRs(s.TPM, banks, pcrs)
	}
	if err != nil {
		return nil, err
	}
	if resp.EventLog, err = s.TPM.EventLog(); err != nil {
		return nil, status.Errorf(codes.Internal, "read the firmware event log: %v", err)
	}
	return resp, nil
}

// readPCRs reads pcrs in every bank of banks.
func readPCRs(tpm PCRReader, banks []string, pcrs []uint32) (*machine.PCRReadResponse, error) {
	resp := &machine.PCRReadResponse{}
	for _, bank := range banks {
		values, err := readBank(tpm, bank, pcrs)
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		resp.Banks = append(resp.Banks, &machine.PCRBank{Bank: bank, Values: values})
	}
	return resp, nil
}

func readBank(tpm PCRReader, bank string, pcrs []uint32) (map[uint32][]byte, error) {
	values := map[uint32][]byte{}
	for _, i := range pcrs {
		v, err := tpm.Read(bank, i)
		if err != nil {
			return nil, fmt.Errorf("read PCR %d (%s): %w", i, bank, err)
		}
		values[i] = v
	}
	return values, nil
}

func selectBanks(active, asked []string) ([]string, error) {
	if len(asked) == 0 {
		return active, nil
	}
	for _, b := range asked {
		if !slices.Contains(active, b) {
			return nil, status.Errorf(codes.InvalidArgument, "PCR bank %q is not active on this TPM; active: %s", b, strings.Join(active, ", "))
		}
	}
	return asked, nil
}

func selectPCRs(asked []uint32) ([]uint32, error) {
	if len(asked) == 0 {
		all := make([]uint32, maxPCR+1)
		for i := range all {
			all[i] = uint32(i)
		}
		return all, nil
	}
	for _, i := range asked {
		if i > maxPCR {
			return nil, status.Error(codes.InvalidArgument, fmt.Sprintf("PCR %d does not exist (0-%d)", i, maxPCR))
		}
	}
	return asked, nil
}
