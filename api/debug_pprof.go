//go:build pprof

package api

import (
	"net/http"
	"net/http/pprof"
	"runtime"
)

// debugProfiles serves the Go profiles on the agent's local socket in a
// build with the pprof tag (for profiling; the agent users run has none).
func debugProfiles(mux *http.ServeMux) {
	// main turns heap profiling off; here it is what the build is for.
	runtime.MemProfileRate = 512 * 1024
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
}
