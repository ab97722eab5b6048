package runtime

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// The prober recognises a timed-out exec by context.DeadlineExceeded; the
// runtime's own callers by ErrExecTimeout. Both must hold through the
// wrapping ExecSync adds, and an ordinary error must match neither.
func TestExecTimeoutMatches(t *testing.T) {
	err := fmt.Errorf("exec %q in container c1: %w", []string{"sleep", "10"}, fmt.Errorf("%w after 1s", ErrExecTimeout))
	if !errors.Is(err, ErrExecTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%v: Is(ErrExecTimeout)=%v Is(DeadlineExceeded)=%v", err, errors.Is(err, ErrExecTimeout), errors.Is(err, context.DeadlineExceeded))
	}
	if errors.Is(err, context.Canceled) {
		t.Error("a timeout matches context.Canceled")
	}
	other := fmt.Errorf("exec in container c1: %w", errors.New("container is not running"))
	if errors.Is(other, ErrExecTimeout) || errors.Is(other, context.DeadlineExceeded) {
		t.Errorf("%v matches a timeout", other)
	}
	if errors.Is(context.DeadlineExceeded, ErrExecTimeout) {
		t.Error("any deadline reads as an exec timeout")
	}
}
