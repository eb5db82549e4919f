package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/measure/attest"
)

// quoteFlags are pcrs' quote options.
type quoteFlags struct {
	quote         bool
	akFingerprint string // hex, optionally "sha256:"-prefixed
}

// quotePCRs asks for a quote over req's PCRs with a fresh random nonce, verifies it with
// measure/attest against the values the node returned, and prints them with the AK's
// fingerprint. A quote over "all" banks is not possible: a quote covers one bank.
func (e *env) quotePCRs(req *machine.PCRReadRequest, q quoteFlags) error {
	pin, err := parseFingerprint(q.akFingerprint)
	if err != nil {
		return err
	}
	bank := "sha256"
	if len(req.Banks) > 0 {
		bank = req.Banks[0]
	}
	req.Banks = []string{bank}
	req.Nonce = make([]byte, 32)
	rand.Read(req.Nonce) // crypto/rand.Read never fails (Go 1.24+)
	api, done, err := e.dial()
	if err != nil {
		return err
	}
	defer done()
	resp, err := api.PCRRead(e.ctx, req)
	if err != nil {
		return err
	}
	result, err := checkQuote(resp, req, pin)
	if err != nil {
		return err
	}
	if e.structured() {
		return e.printMessage(resp)
	}
	if err := e.printPCRs(resp); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "quote: verified, AK sha256:%s\n", result.AKFingerprint)
	return nil
}

// checkQuote verifies resp's quote for req and, when pin is set, that the AK is the pinned
// one.
func checkQuote(resp *machine.PCRReadResponse, req *machine.PCRReadRequest, pin []byte) (*attest.Result, error) {
	bank := req.Banks[0]
	if len(resp.GetBanks()) != 1 || resp.GetBanks()[0].GetBank() != bank {
		return nil, fmt.Errorf("quote: the node answered with %d banks, want %s alone", len(resp.GetBanks()), bank)
	}
	values := resp.GetBanks()[0].GetValues()
	if got := slices.Sorted(maps.Keys(values)); !slices.Equal(got, req.Pcrs) {
		return nil, fmt.Errorf("quote: the node returned PCRs %v, asked for %v", got, req.Pcrs)
	}
	result, err := attest.Verify(resp.GetAkPublic(), resp.GetQuote(), resp.GetQuoteSignature(), req.Nonce, bank, values)
	if err != nil {
		return nil, fmt.Errorf("quote: %w", err)
	}
	if pin != nil && !bytes.Equal(result.AKName[2:], pin) {
		return nil, fmt.Errorf("quote: the node's attestation key is sha256:%s, not the pinned sha256:%x; if its TPM was replaced or its endorsement seed changed, record the new fingerprint over a trusted channel", result.AKFingerprint, pin)
	}
	return result, nil
}

// parseFingerprint reads a hex SHA-256, with or without a "sha256:" prefix; "" is none.
func parseFingerprint(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	fp, err := hex.DecodeString(strings.TrimPrefix(strings.ToLower(s), "sha256:"))
	if err != nil || len(fp) != 32 {
		return nil, fmt.Errorf("%w: --ak-fingerprint %q is not a hex SHA-256 (64 hex digits, as printed by pcrs --quote)", errUsage, s)
	}
	return fp, nil
}
