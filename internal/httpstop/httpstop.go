// Package httpstop ends an HTTP server that also serves hijacked streams
// (exec, attach, port-forward), which http.Server.Shutdown neither waits
// for nor closes.
package httpstop

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// Grace bounds how long a server waits, at shutdown, for its requests and
// streams in flight.
const Grace = 5 * time.Second

// Shutdown stops srv taking requests and waits up to Grace for those in
// flight and for streams to end, closing srv's connections if they outlast
// it. ctx may already be done: the wait is on a context of its own. It
// reports whether streams were still open when the wait ended.
func Shutdown(ctx context.Context, srv *http.Server, streams *sync.WaitGroup) (streamsOpen bool) {
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), Grace)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		_ = srv.Close()
	}
	done := make(chan struct{})
	go func() { streams.Wait(); close(done) }()
	select {
	case <-done:
		return false
	case <-shutCtx.Done():
		return true
	}
}
