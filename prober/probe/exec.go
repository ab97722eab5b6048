package probe

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/internal/expansion"
)

// execRuntimeGrace is how long past the probe timeout an ExecSync may take
// before the prober gives up on the runtime.
const execRuntimeGrace = 30 * time.Second

// Execer runs a command inside a container and returns its combined output
// and exit code. On timeout it kills the process and returns an error for
// which errors.Is(err, context.DeadlineExceeded) holds.
type Execer interface {
	ExecSync(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (output []byte, exitCode int32, err error)
}

// Exec runs cmd in the container through e. Exit 0 is Success, any other
// exit code a Failure, both with the output cut to MaxOutput. A timeout is a
// Failure "command \"…\" timed out" (kubelet's ExecProbeTimeout, on by
// default). Any other error means the command could not be run: Unknown with
// the error.
func Exec(ctx context.Context, e Execer, containerID string, cmd []string, timeout time.Duration) (Result, string, error) {
	// The runtime enforces timeout; this deadline only keeps a wedged
	// runtime from holding the worker forever (kubelet adds its 2 min CRI
	// timeout the same way).
	rctx, cancel := context.WithTimeout(ctx, timeout+execRuntimeGrace)
	defer cancel()
	out, code, err := e.ExecSync(rctx, containerID, cmd, timeout)
	if len(out) > MaxOutput {
		out = out[:MaxOutput]
	}
	switch {
	case err == nil && code == 0:
		return Success, string(out), nil
	case err == nil:
		return Failure, string(out), nil
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return Failure, fmt.Sprintf("command %q timed out", strings.Join(cmd, " ")), nil
	default:
		return Unknown, "", err
	}
}

// ExpandCommand expands $(VAR) references in cmd from the container's own
// env values only, as kubelet does for exec probes: no downward API, no
// secrets, no pod-level variables. A variable set through valueFrom expands
// to "". $$ is an escaped $, and an unknown or unterminated reference is
// left as written.
func ExpandCommand(cmd []string, env []v1.EnvVar) []string {
	if len(cmd) == 0 {
		return nil
	}
	vars := make(map[string]string, len(env))
	for _, e := range env {
		vars[e.Name] = e.Value
	}
	lookup := func(name string) (string, bool) { v, ok := vars[name]; return v, ok }
	out := make([]string, len(cmd))
	for i, arg := range cmd {
		out[i] = expansion.Expand(arg, lookup)
	}
	return out
}
