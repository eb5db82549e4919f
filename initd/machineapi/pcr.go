package machineapi

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/machine"
)

// PCRReader reads the TPM for PCRRead.
type PCRReader interface {
	// Banks lists the active PCR banks ("sha256", ...); none means no TPM.
	Banks() []string
	// Read returns the value of PCR index in bank.
	Read(bank string, index uint32) ([]byte, error)
	// EventLog returns the firmware's TCG event log (nil when there is none).
	EventLog() ([]byte, error)
}

// SysfsTPM reads PCRs from the kernel's sysfs files (Linux 5.12+) and the event log from
// securityfs; it never talks to the TPM itself.
type SysfsTPM struct {
	Dir          string // /sys/class/tpm/tpm0
	EventLogPath string // /sys/kernel/security/tpm0/binary_bios_measurements
}

// DefaultTPM is the first TPM's sysfs and securityfs files.
var DefaultTPM = SysfsTPM{Dir: "/sys/class/tpm/tpm0", EventLogPath: "/sys/kernel/security/tpm0/binary_bios_measurements"}

// Banks lists pcr-<bank> directories.
func (t SysfsTPM) Banks() []string {
	dirs, _ := filepath.Glob(filepath.Join(t.Dir, "pcr-*"))
	var banks []string
	for _, d := range dirs {
		banks = append(banks, strings.TrimPrefix(filepath.Base(d), "pcr-"))
	}
	sort.Strings(banks)
	return banks
}

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

// maxPCR is the highest PCR index of a PC client TPM.
const maxPCR = 23

// PCRRead returns the PCR values the request names, and the firmware event log.
func (s *Server) PCRRead(ctx context.Context, req *machine.PCRReadRequest) (*machine.PCRReadResponse, error) {
	if s.TPM == nil || len(s.TPM.Banks()) == 0 {
		return nil, status.Error(codes.FailedPrecondition, "this node has no TPM 2.0 (or the kernel does not expose it)")
	}
	if len(req.GetNonce()) > 0 {
		return nil, status.Error(codes.Unimplemented, "TPM quotes need an attestation key, which this version does not provision; read PCR values without a nonce")
	}
	banks, err := selectBanks(s.TPM.Banks(), req.GetBanks())
	if err != nil {
		return nil, err
	}
	pcrs, err := selectPCRs(req.GetPcrs())
	if err != nil {
		return nil, err
	}
	resp := &machine.PCRReadResponse{}
	for _, bank := range banks {
		pb := &machine.PCRBank{Bank: bank, Values: map[uint32][]byte{}}
		for _, i := range pcrs {
			v, err := s.TPM.Read(bank, i)
			if err != nil {
				return nil, status.Errorf(codes.Internal, "read PCR %d (%s): %v", i, bank, err)
			}
			pb.Values[i] = v
		}
		resp.Banks = append(resp.Banks, pb)
	}
	if resp.EventLog, err = s.TPM.EventLog(); err != nil {
		return nil, status.Errorf(codes.Internal, "read the firmware event log: %v", err)
	}
	return resp, nil
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
