package api

import (
	"net/http"
	"runtime"
	"runtime/debug"
)

// BuildVersion describes this binary: version as given (the linker sets it
// in main; "" means "dev"), the VCS revision Go stamped into the build, if
// any, the Go version and the platform.
func BuildVersion(version string) VersionInfo {
	if version == "" {
		version = "dev"
	}
	v := VersionInfo{
		Version:   version,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				v.GitCommit = s.Value
			}
		}
	}
	return v
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.deps.Version)
}

// kubeconfig serves the admin kubeconfig of the Kubernetes API; the
// socket (mode 0600) already limits who may read it.
func (s *Server) kubeconfig(w http.ResponseWriter, r *http.Request) {
	if s.deps.Kubeconfig == nil {
		writeError(w, notFoundPath())
		return
	}
	kc, err := s.deps.Kubeconfig()
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(kc)
}
