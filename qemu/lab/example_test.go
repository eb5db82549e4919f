package lab_test

import (
	"context"
	"log"

	"github.com/kiln-os/kiln/qemu"
	"github.com/kiln-os/kiln/qemu/lab"
)

// Two VMs on one lab, a boot server inside it, and the test process talking to a VM.
// (Compiled, not run: it needs root and boots QEMU.)
func Example() {
	ctx := context.Background()
	l, err := lab.New(ctx, log.Printf) // in a test: lab.ForTest(t)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	// The boot server runs inside the lab, on its bridge.
	server := l.Command(ctx, "kiln", "pxe", "serve", "--interface", l.Bridge(), "--range", "10.213.0.100-10.213.0.199")
	if err := server.Start(); err != nil {
		log.Fatal(err)
	}

	for _, name := range []string{"cp", "worker"} {
		tap, err := l.AddTap(ctx, name)
		if err != nil {
			log.Fatal(err)
		}
		vm, err := qemu.Start(ctx, qemu.WithName(name), qemu.WithLabNIC(tap.Netns, tap.Name, tap.MAC), qemu.WithNetBootFirst())
		if err != nil {
			log.Fatal(err)
		}
		defer vm.Kill()
	}

	// A socket made inside the lab, from the test process.
	conn, err := l.DialContext(ctx, "tcp", "10.213.0.100:50000")
	if err != nil {
		log.Fatal(err)
	}
	conn.Close()
}
