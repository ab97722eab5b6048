// Command minikubelet is the node agent (`minikubelet agent`) and a
// kubectl-like client for it (get, describe, logs, exec, apply, delete).
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

// version is set at build time: -ldflags "-X main.version=v0.1.0".
var version = "dev"

func main() {
	// Heap profiling is on by default in Go and nothing here reads the
	// profile: its bucket table alone held 1.5 MiB of a running agent.
	runtime.MemProfileRate = 0
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig, ok := <-sigs
		if !ok {
			return
		}
		// Later signals get their default action: a second Ctrl-C ends a
		// stuck shutdown.
		signal.Stop(sigs)
		cancel(signalError{sig.(syscall.Signal)})
	}()
	code := run(ctx, os.Args[1:], IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}, os.Getenv)
	os.Exit(code)
}
