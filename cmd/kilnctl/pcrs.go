package main

import (
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/kiln-os/kiln/api/machine"
)

// maxPCR is the highest PCR index a PC-client TPM has (TCG PC Client Platform TPM
// Profile: 24 PCRs).
const maxPCR = 23

func cmdPCRs(e *env, args []string) error {
	fs := e.flagSet("pcrs")
	banks := fs.String("bank", "sha256", `banks, comma separated, or "all"`)
	list := fs.String("pcrs", "0-23", "PCR indexes: ranges and single indexes, comma separated")
	var q quoteFlags
	fs.BoolVar(&q.quote, "quote", false, "ask for a TPM quote over the values (one bank: the first of --bank) and verify it")
	fs.StringVar(&q.akFingerprint, "ak-fingerprint", "", "with --quote (implied): the SHA-256 of the attestation key recorded at enrolment")
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	indexes, err := parsePCRList(*list)
	if err != nil {
		return fmt.Errorf("%w: --pcrs: %v", errUsage, err)
	}
	req := &machine.PCRReadRequest{Pcrs: indexes}
	if *banks != "all" {
		req.Banks = strings.Split(*banks, ",")
	}
	if q.akFingerprint != "" || q.quote {
		return e.quotePCRs(req, q)
	}
	api, done, err := e.dial()
	if err != nil {
		return err
	}
	defer done()
	resp, err := api.PCRRead(e.ctx, req)
	if err != nil {
		return err
	}
	if e.structured() {
		return e.printMessage(resp)
	}
	return e.printPCRs(resp)
}

// printPCRs prints every value of resp as a table sorted by bank, then index.
func (e *env) printPCRs(resp *machine.PCRReadResponse) error {
	tw := e.table()
	fmt.Fprintln(tw, "BANK\tPCR\tVALUE")
	for _, b := range resp.GetBanks() {
		for _, i := range slices.Sorted(maps.Keys(b.GetValues())) {
			fmt.Fprintf(tw, "%s\t%d\t%s\n", b.GetBank(), i, hex.EncodeToString(b.GetValues()[i]))
		}
	}
	return tw.Flush()
}

// parsePCRList reads "0-7,11,14" into sorted, distinct indexes.
func parsePCRList(s string) ([]uint32, error) {
	seen := map[uint32]bool{}
	for _, part := range strings.Split(s, ",") {
		lo, hi, err := parsePCRRange(strings.TrimSpace(part))
		if err != nil {
			return nil, err
		}
		for i := lo; i <= hi; i++ {
			seen[i] = true
		}
	}
	return slices.Sorted(maps.Keys(seen)), nil
}

func parsePCRRange(part string) (lo, hi uint32, err error) {
	first, last, isRange := strings.Cut(part, "-")
	if lo, err = parsePCRIndex(first); err != nil {
		return 0, 0, err
	}
	if !isRange {
		return lo, lo, nil
	}
	if hi, err = parsePCRIndex(last); err != nil {
		return 0, 0, err
	}
	if hi < lo {
		return 0, 0, fmt.Errorf("range %q runs backwards", part)
	}
	return lo, hi, nil
}

func parsePCRIndex(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n > maxPCR {
		return 0, fmt.Errorf("%q is not a PCR index 0-%d", s, maxPCR)
	}
	return uint32(n), nil
}
