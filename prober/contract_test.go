package prober

import (
	"github.com/minikubelet/minikubelet/events"
	"github.com/minikubelet/minikubelet/status"
)

// The agent wires the status store and the event store in directly.
var (
	_ StatusProvider  = (*status.Store)(nil)
	_ events.Recorder = (*events.Store)(nil)
)
