//go:build !pprof

package api

import "net/http"

// debugProfiles adds nothing: only a build with the pprof tag serves the
// Go profiles.
func debugProfiles(*http.ServeMux) {}
