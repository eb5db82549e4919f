package machineapi

import (
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/initd/tpmseal"
	verify "github.com/kiln-os/kiln/measure/attest"
)

// quoteAttempts bounds how often PCRRead reads and quotes again when a PCR was extended
// between the two (machined extends PCR 11 at ready; IMA or a service may extend others).
const quoteAttempts = 3

// quotePCRs reads pcrs in one bank (the first asked for, else sha256) and has the TPM
// quote them with the request's nonce. The values come from sysfs and the quote from the
// TPM, so they are not read atomically: the node verifies its own answer as the client
// will and tries again when the values moved in between.
func quotePCRs(tpm PCRReader, req *machine.PCRReadRequest, pcrs []uint32) (*machine.PCRReadResponse, error) {
	nonce := req.GetNonce()
	if len(nonce) > verify.MaxNonce {
		return nil, status.Errorf(codes.InvalidArgument, "nonce is %d bytes; a quote carries 1-%d", len(nonce), verify.MaxNonce)
	}
	bank := "sha256"
	if len(req.GetBanks()) > 0 {
		bank = req.GetBanks()[0]
	}
	var err error
	for range quoteAttempts {
		var resp *machine.PCRReadResponse
		if resp, err = quoteOnce(tpm, nonce, bank, pcrs); err == nil {
			return resp, nil
		}
		if !errors.Is(err, verify.ErrPCRDigest) {
			break
		}
	}
	if errors.Is(err, tpmseal.ErrNoTPM) {
		return nil, status.Errorf(codes.FailedPrecondition, "quote PCRs: the TPM resource manager is missing (%v); read PCR values without a nonce", err)
	}
	return nil, status.Errorf(codes.Internal, "quote PCRs (%s): %v", bank, err)
}

func quoteOnce(tpm PCRReader, nonce []byte, bank string, pcrs []uint32) (*machine.PCRReadResponse, error) {
	values, err := readBank(tpm, bank, pcrs)
	if err != nil {
		return nil, err
	}
	attest, signature, akPublic, err := tpm.Quote(nonce, bank, pcrs)
	if err != nil {
		return nil, err
	}
	if _, err := verify.Verify(akPublic, attest, signature, nonce, bank, values); err != nil {
		return nil, err
	}
	return &machine.PCRReadResponse{
		Banks:          []*machine.PCRBank{{Bank: bank, Values: values}},
		Quote:          attest,
		QuoteSignature: signature,
		AkPublic:       akPublic,
	}, nil
}
