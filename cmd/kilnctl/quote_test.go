package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2/transport"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/initd/tpmquote" // test only: a genuine quote from the simulator
	"github.com/kiln-os/kiln/internal/tpmsim"
	"github.com/kiln-os/kiln/measure/attest"
)

// quotingNode answers PCRRead like machined: zero SHA-256 values and a quote from the TPM
// simulator. tamper, when set, changes the response after quoting.
type quotingNode struct {
	fakeNode
	tpm    transport.TPM
	tamper func(*machine.PCRReadResponse)
}

func (n *quotingNode) PCRRead(_ context.Context, req *machine.PCRReadRequest) (*machine.PCRReadResponse, error) {
	values := map[uint32][]byte{}
	for _, i := range req.GetPcrs() {
		values[i] = make([]byte, 32)
	}
	a, s, ak, err := tpmquote.Quote(n.tpm, req.GetNonce(), req.GetBanks()[0], req.GetPcrs())
	if err != nil {
		return nil, err
	}
	resp := &machine.PCRReadResponse{Banks: []*machine.PCRBank{{Bank: "sha256", Values: values}}, Quote: a, QuoteSignature: s, AkPublic: ak}
	if n.tamper != nil {
		n.tamper(resp)
	}
	return resp, nil
}

// quotingContext serves a quotingNode over mutual TLS and returns it with a kilnctl config
// that reaches it.
func quotingContext(t *testing.T) (*quotingNode, string) {
	t.Helper()
	node := &quotingNode{tpm: tpmsim.Open(t)}
	ca := newTestCA(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{ca.serverCert(t)}, ClientAuth: tls.RequireAnyClientCert}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(conf)))
	machine.RegisterMachineServiceServer(srv, node)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return node, writeContext(t, ca, ca.clientCert(t, "os:reader", time.Time{}), lis.Addr().String())
}

// akFingerprint is the fingerprint of node's AK: the hex SHA-256 of its TPMT_PUBLIC.
func akFingerprint(t *testing.T, node *quotingNode) string {
	t.Helper()
	_, _, ak, err := tpmquote.Quote(node.tpm, []byte("n"), "sha256", []uint32{0})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(ak)
	return hex.EncodeToString(sum[:])
}

func TestPCRsQuoteVerifies(t *testing.T) {
	node, kc := quotingContext(t)
	fp := akFingerprint(t, node)
	r := runCtl(t, "--kiln-config", kc, "pcrs", "--quote", "--pcrs", "7,11", "--ak-fingerprint", "sha256:"+strings.ToUpper(fp))
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.stderr)
	}
	if !strings.Contains(r.stdout, "sha256  11   "+strings.Repeat("00", 32)) || !strings.HasSuffix(r.stdout, "quote: verified, AK sha256:"+fp+"\n") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
}

func TestPCRsQuoteJSONHasTheQuote(t *testing.T) {
	_, kc := quotingContext(t)
	r := runCtl(t, "--kiln-config", kc, "-o", "json", "pcrs", "--quote", "--pcrs", "7")
	if r.err != nil {
		t.Fatal(r.err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v:\n%s", err, r.stdout)
	}
	for _, field := range []string{"quote", "quote_signature", "ak_public"} {
		if s, _ := got[field].(string); s == "" {
			t.Errorf("json lacks %s:\n%s", field, r.stdout)
		}
	}
}

func TestPCRsQuoteFails(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(*machine.PCRReadResponse)
		pin    string
		want   error
		says   string
	}{
		{"tampered value", func(r *machine.PCRReadResponse) { r.Banks[0].Values[7][0] = 1 }, "", attest.ErrPCRDigest, "not the quoted ones"},
		{"dropped value", func(r *machine.PCRReadResponse) { delete(r.Banks[0].Values, 7) }, "", nil, "returned PCRs [11], asked for [7 11]"},
		{"other AK pinned", nil, strings.Repeat("ab", 32), nil, "not the pinned sha256:abab"},
		{"tampered quote", func(r *machine.PCRReadResponse) { r.Quote[len(r.Quote)-1] ^= 1 }, "", attest.ErrSignature, "does not verify"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			node, kc := quotingContext(t)
			node.tamper = tc.tamper
			args := []string{"--kiln-config", kc, "pcrs", "--quote", "--pcrs", "7,11"}
			if tc.pin != "" {
				args = append(args, "--ak-fingerprint", tc.pin)
			}
			r := runCtl(t, args...)
			if r.err == nil || (tc.want != nil && !errors.Is(r.err, tc.want)) || !strings.Contains(r.err.Error(), tc.says) {
				t.Errorf("err = %v, want %v saying %q", r.err, tc.want, tc.says)
			}
		})
	}
}

func TestPCRsRejectsABadFingerprint(t *testing.T) {
	r := runCtl(t, "pcrs", "--ak-fingerprint", "abc")
	if !errors.Is(r.err, errUsage) || !strings.Contains(r.err.Error(), "64 hex digits") {
		t.Errorf("err = %v", r.err)
	}
}
