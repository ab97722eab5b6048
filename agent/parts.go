package agent

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/errgroup"
)

// parts runs the agent's long-lived parts (pod workers, API server,
// manifest source, …) as one unit, each in its own goroutine. The first
// part to fail, or to return while the agent should still run, ends ctx
// for all of them; wait returns once every part has returned, with the
// first failure. A new part is one more run call in Run.
type parts struct {
	// ctx is what the parts run under: it ends when Run's context ends or
	// a part fails.
	ctx    context.Context
	cancel context.CancelFunc
	g      *errgroup.Group
}

func newParts(parent context.Context) *parts {
	ctx, cancel := context.WithCancel(parent)
	g, gctx := errgroup.WithContext(ctx)
	return &parts{ctx: gctx, cancel: cancel, g: g}
}

// run starts fn in the group. fn must return once ctx ends. Its error is
// named after the part; a nil return before ctx ended counts as a failure
// too, since a part of a running agent never ends on its own.
func (p *parts) run(name string, fn func(ctx context.Context) error) {
	p.g.Go(func() error {
		err := fn(p.ctx)
		if p.ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
			return nil
		}
		if err == nil {
			err = errors.New("stopped unexpectedly")
		}
		return fmt.Errorf("%s: %w", name, err)
	})
}

// wait blocks until every part has returned and gives the first failure
// (nil when the agent was just stopped).
func (p *parts) wait() error {
	err := p.g.Wait()
	p.cancel()
	return err
}

// abort stops the parts already running because the agent could not
// finish starting with err, and waits for them.
func (p *parts) abort(err error) error {
	p.cancel()
	return errors.Join(err, p.wait())
}
