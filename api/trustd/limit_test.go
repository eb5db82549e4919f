package trustd

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/security"
)

// from is a request context as gRPC gives it to a handler for a caller at addr.
func from(addr string) context.Context {
	tcp, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		panic(err)
	}
	return peer.NewContext(context.Background(), &peer.Peer{Addr: tcp})
}

// TestGuessesFromOneAddressAreLimited is the brute-force attack on the join token: one
// address sends wrong tokens as fast as it can. After GuessLimit wrong tokens in
// GuessWindow it is refused without its token being compared, even with the right one,
// until the window passes; another address is still served.
func TestGuessesFromOneAddressAreLimited(t *testing.T) {
	s := newSigner(t)
	now := testNow
	s.Now = func() time.Time { return now }
	csr := newCSR(t, newKey(t))
	ask := func(addr, token string) error {
		_, err := s.Certificate(from(addr), &security.CertificateRequest{CsrPem: csr, Token: token})
		return err
	}
	for i := range GuessLimit {
		if err := ask("192.0.2.1:4000", "guess"); status.Code(err) != codes.PermissionDenied {
			t.Fatalf("guess %d: %v, want PermissionDenied", i, err)
		}
	}
	refused := 0
	for i := range 100 {
		// Another source port is the same attacker.
		if err := ask("192.0.2.1:"+strconv.Itoa(5000+i), "guess"); status.Code(err) == codes.ResourceExhausted {
			refused++
		}
	}
	if refused != 100 {
		t.Errorf("%d of 100 guesses past the limit were refused, want all", refused)
	}
	if err := ask("192.0.2.1:4001", s.Token); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("right token from the locked address: %v, want ResourceExhausted", err)
	}
	if err := ask("198.51.100.9:4000", s.Token); err != nil {
		t.Errorf("another address was not served: %v", err)
	}
	now = now.Add(GuessWindow - time.Millisecond)
	if err := ask("192.0.2.1:4001", s.Token); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("right token just before the window passed: %v, want ResourceExhausted", err)
	}
	now = now.Add(time.Millisecond)
	if err := ask("192.0.2.1:4001", s.Token); err != nil {
		t.Errorf("right token after the window passed: %v", err)
	}
}

// TestIPv6GuessesCountPerPrefix: one host holds a whole /64, so walking through its
// addresses buys no extra guesses.
func TestIPv6GuessesCountPerPrefix(t *testing.T) {
	s := newSigner(t)
	for i := range GuessLimit {
		addr := net.JoinHostPort("2001:db8:1:2::"+strconv.FormatInt(int64(i+1), 16), "4000")
		if _, err := s.Certificate(from(addr), &security.CertificateRequest{Token: "guess"}); status.Code(err) != codes.PermissionDenied {
			t.Fatalf("guess %d: %v, want PermissionDenied", i, err)
		}
	}
	if _, err := s.Certificate(from("[2001:db8:1:2:ffff::1]:4000"), &security.CertificateRequest{Token: "guess"}); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("another address in the /64: %v, want ResourceExhausted", err)
	}
}

// TestFullGuessTableRefusesNewSources: an attacker with many addresses fills the table;
// a new source is refused rather than an old one forgotten, until windows pass.
func TestFullGuessTableRefusesNewSources(t *testing.T) {
	var b guessBudget
	for i := range MaxSources {
		if !b.take("source-"+strconv.Itoa(i), testNow) {
			t.Fatalf("source %d refused before the table was full", i)
		}
	}
	if b.take("newcomer", testNow.Add(GuessWindow-time.Millisecond)) {
		t.Error("a new source was counted in a full table")
	}
	if !b.take("newcomer", testNow.Add(GuessWindow)) {
		t.Error("a new source was refused after every window had passed")
	}
}
