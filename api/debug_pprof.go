//go:build pprof

package api

import (
	"expvar"
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
	// The runtime's memory statistics as JSON ("memstats"), cheap enough
	// for the soak to sample every few seconds beside the RSS.
	mux.Handle("GET /debug/vars", expvar.Handler())
}
