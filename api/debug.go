package api

import (
	"fmt"
	"net/http"
	"runtime"
)

// goroutines answers the agent's goroutine count as a plain number: the
// benchmark's leak check (scripts/bench) compares it before and after pod
// churn. It reveals nothing about pods and costs one atomic read.
func (s *Server) goroutines(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, runtime.NumGoroutine())
}
