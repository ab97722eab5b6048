package kubeapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
)

// HealthCheck is one named check of /livez, /readyz and /healthz, as the
// API server's healthz checkers: Check returns nil when healthy. It must
// return promptly; it is given a context with a short deadline.
type HealthCheck struct {
	Name  string
	Check func(ctx context.Context) error
	// ReadyOnly leaves it out of /livez and /healthz: a part that is not
	// ready yet (a first sync) is no reason to restart the agent.
	ReadyOnly bool
}

// healthTimeout bounds each check.
const healthTimeout = 5 * time.Second

// errShuttingDown fails readyz once the server is stopping, as the API
// server's "shutdown" check does, so that load balancers stop sending.
var errShuttingDown = errors.New("the server is shutting down")

// healthChecks are the checks of endpoint ("livez", "readyz" or
// "healthz"): ping first, as upstream, then the agent's own.
func (s *Server) healthChecks(endpoint string) []HealthCheck {
	checks := []HealthCheck{{Name: "ping", Check: func(context.Context) error { return nil }}}
	for _, c := range s.deps.Health {
		if c.ReadyOnly && endpoint != "readyz" {
			continue
		}
		checks = append(checks, c)
	}
	if endpoint == "readyz" {
		checks = append(checks, HealthCheck{Name: "shutdown", Check: func(context.Context) error {
			if s.stopping.Load() {
				return errShuttingDown
			}
			return nil
		}})
	}
	return checks
}

// serveHealth answers /livez, /readyz, /healthz and their per-check paths
// the way the API server's healthz package does: "ok" when every check
// passes; the list of checks ("[+]name ok", "[-]name failed: reason
// withheld") with ?verbose or on failure, which is a 500; ?exclude=name
// skips a check; /readyz/NAME runs that one check (404 for no such check).
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request, endpoint, check string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-cache, private")
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	checks := s.healthChecks(endpoint)
	if check != "" {
		i := slices.IndexFunc(checks, func(c HealthCheck) bool { return c.Name == check })
		if i < 0 {
			http.NotFound(w, r)
			return
		}
		if err := checks[i].Check(ctx); err != nil {
			http.Error(w, fmt.Sprintf("internal server error: %v", err), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("ok"))
		return
	}
	q := r.URL.Query()
	exclude := q["exclude"]
	var out strings.Builder
	var failed []string
	for _, c := range checks {
		if slices.Contains(exclude, c.Name) {
			fmt.Fprintf(&out, "[+]%s excluded: ok\n", c.Name)
			continue
		}
		if err := c.Check(ctx); err != nil {
			s.log.Info("health check failed", zap.String("endpoint", endpoint), zap.String("check", c.Name), zap.Error(err))
			fmt.Fprintf(&out, "[-]%s failed: reason withheld\n", c.Name)
			failed = append(failed, c.Name)
			continue
		}
		fmt.Fprintf(&out, "[+]%s ok\n", c.Name)
	}
	for _, name := range exclude {
		if !slices.ContainsFunc(checks, func(c HealthCheck) bool { return c.Name == name }) {
			fmt.Fprintf(&out, "warn: some health checks cannot be excluded: no matches for %q\n", name)
		}
	}
	if len(failed) > 0 {
		http.Error(w, out.String()+endpoint+" check failed", http.StatusInternalServerError)
		return
	}
	if _, verbose := q["verbose"]; verbose {
		_, _ = fmt.Fprintf(w, "%s%s check passed\n", out.String(), endpoint)
		return
	}
	_, _ = w.Write([]byte("ok"))
}
