package runtime_test

import (
	"github.com/minikubelet/minikubelet/podworker"
	"github.com/minikubelet/minikubelet/runtime"
)

// The pod worker's contract is what this package implements.
var _ podworker.Runtime = (*runtime.Containerd)(nil)
