// Command pause is the first process of every pod sandbox. It holds the
// pod's namespaces open, reaps the zombies that the PID namespace hands it
// as PID 1, and exits 0 on SIGTERM or SIGINT. It prints nothing unless run
// with -v, which prints its version and exits.
//
// It is built static (CGO_ENABLED=0) and stripped, and uses only os/signal
// and syscall to stay small.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

// version is printed by -v; keep it in step with image.Ref.
const version = "1.0"

func main() {
	for _, arg := range os.Args[1:] {
		if arg == "-v" || arg == "--version" {
			os.Stdout.WriteString("pause.minikubelet " + version + "\n")
			os.Exit(0)
		}
	}

	// Subscribe before the first sweep: a child that exits in between
	// still raises SIGCHLD, so no zombie is missed.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGCHLD, syscall.SIGTERM, syscall.SIGINT)
	reap()
	for sig := range sigs {
		if sig == syscall.SIGCHLD {
			reap()
			continue
		}
		os.Exit(0)
	}
}

// reap waits for every child that has exited. Signals coalesce, so one
// SIGCHLD can stand for many exits: loop until nothing is left to reap.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
	}
}
