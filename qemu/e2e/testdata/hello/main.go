// Command hello is the workload of the containers end-to-end test (TestContainers): a
// static program the test wraps in an OCI image itself. At start it checks its own
// confinement and prints one "check:" line per check; then it prints "tick N" every
// second and serves HTTP on $PORT (default 8080): / answers "hello from kiln", /exit
// makes it exit with status 3 (to see the restart policy at work).
package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"syscall"
	"time"
)

func main() {
	check()
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "hello from kiln") })
	http.HandleFunc("/exit", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "exiting")
		fmt.Println("exit requested")
		go func() { time.Sleep(100 * time.Millisecond); os.Exit(3) }()
	})
	go func() {
		for i := 1; ; i++ {
			fmt.Printf("tick %d\n", i)
			time.Sleep(time.Second)
		}
	}()
	fmt.Printf("listening on :%s\n", port)
	if err := http.ListenAndServe(":"+port, nil); err != nil {
		fmt.Println("serve:", err)
		os.Exit(1)
	}
}

// check prints what the container can see and do of the node.
func check() {
	if _, err := os.Stat("/system/state"); errors.Is(err, os.ErrNotExist) {
		fmt.Println("check: /system/state not visible")
	} else {
		fmt.Printf("check: /system/state VISIBLE (%v)\n", err)
	}
	if err := os.WriteFile("/probe", []byte("x"), 0o644); errors.Is(err, syscall.EROFS) {
		fmt.Println("check: root filesystem read-only")
	} else {
		fmt.Printf("check: root filesystem WRITABLE (%v)\n", err)
	}
	var caps string
	if data, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range splitLines(string(data)) {
			if len(line) > 7 && line[:7] == "CapEff:" {
				caps = line[7:]
			}
		}
	}
	fmt.Printf("check: effective capabilities%s\n", caps)
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := range len(s) {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
