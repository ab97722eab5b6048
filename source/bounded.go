package source

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"
)

// DefaultReadTimeout bounds each listing of the manifest directory and
// each read of a manifest.
const DefaultReadTimeout = 10 * time.Second

// boundedFS reads the manifest directory with a time limit: on a hung file
// system (an NFS server gone, a stuck FUSE daemon) a read can block in the
// kernel for ever, and with it the source, every pod update and the API's
// apply. A read that overruns is given up (its error says so) and left to
// finish in the background; until it has, the same path is not read again,
// so a hung file costs one goroutine, not one per rescan.
type boundedFS struct {
	timeout time.Duration
	// read and list are readManifest and os.ReadDir; tests replace them.
	read func(path string) ([]byte, error)
	list func(dir string) ([]os.DirEntry, error)

	mu   sync.Mutex
	busy map[string]bool // paths whose read has not returned yet
}

func newBoundedFS(timeout time.Duration) *boundedFS {
	if timeout <= 0 {
		timeout = DefaultReadTimeout
	}
	return &boundedFS{timeout: timeout, read: readManifest, list: os.ReadDir, busy: map[string]bool{}}
}

// errReadTimeout is the error of a read given up on.
type errReadTimeout struct{ timeout time.Duration }

func (e errReadTimeout) Error() string {
	return fmt.Sprintf("not read: the file system did not answer within %s (hung?); read again once it does", e.timeout)
}

func (b *boundedFS) readFile(ctx context.Context, path string) ([]byte, error) {
	return bounded(ctx, b, path, func() ([]byte, error) { return b.read(path) })
}

func (b *boundedFS) readDir(ctx context.Context, dir string) ([]os.DirEntry, error) {
	return bounded(ctx, b, dir, func() ([]os.DirEntry, error) { return b.list(dir) })
}

// bounded runs f for key unless an earlier f for key still runs, and waits
// for it at most b.timeout, or until ctx ends.
func bounded[T any](ctx context.Context, b *boundedFS, key string, f func() (T, error)) (T, error) {
	var zero T
	b.mu.Lock()
	if b.busy[key] {
		b.mu.Unlock()
		return zero, errReadTimeout{b.timeout}
	}
	b.busy[key] = true
	b.mu.Unlock()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f()
		b.mu.Lock()
		delete(b.busy, key)
		b.mu.Unlock()
		done <- result{v, err}
	}()
	t := time.NewTimer(b.timeout)
	defer t.Stop()
	select {
	case r := <-done:
		return r.v, r.err
	case <-t.C:
		return zero, errReadTimeout{b.timeout}
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}
