// Package tpmsim opens the Microsoft reference TPM 2.0 (go-tpm-tools' simulator) for tests:
// a freshly manufactured TPM with no resource manager, so a leaked handle shows. It is for
// tests only (the simulator needs cgo); nothing in the image imports it.
package tpmsim

import (
	"testing"

	"github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/tpm2/transport"
)

// TPM is the simulator as a go-tpm transport; Sim resets it as a reboot does.
type TPM struct {
	transport.TPM
	Sim *simulator.Simulator
}

// Open starts a simulator for the test and closes it when the test ends. The simulator is a
// process-wide singleton: a test holds at most one at a time.
func Open(t testing.TB) *TPM {
	t.Helper()
	sim, err := simulator.Get()
	if err != nil {
		t.Fatalf("TPM simulator: %v", err)
	}
	t.Cleanup(func() { sim.Close() })
	return &TPM{TPM: transport.FromReadWriter(sim), Sim: sim}
}
