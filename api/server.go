// Package api serves the agent's state over HTTP/1.1 on a unix socket, with
// Kubernetes API paths and objects where Kubernetes has them (pods, logs,
// exec, events), and holds the client the CLI uses.
package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/internal/httpstop"
	mkruntime "github.com/minikubelet/minikubelet/runtime"
	"github.com/minikubelet/minikubelet/status"
)

// PodSource publishes pods; status.Store implements it.
type PodSource interface {
	// List returns copies of the pods in namespace ("" for all), sorted by
	// namespace, name and creation time.
	List(namespace string) []*v1.Pod
	// Watch streams changes until ctx ends; the channel closes early when
	// the watcher falls behind.
	Watch(ctx context.Context, buffer int) <-chan status.Event
}

// EventSource lists recorded events; events.Store implements it.
type EventSource interface {
	List(namespace, name string) []v1.Event
}

// Executor runs a command in a running container; the runtime implements it.
type Executor interface {
	Exec(ctx context.Context, containerID string, opts mkruntime.ExecOptions) (int32, error)
}

// Attacher connects to a running container's stdio; the runtime
// implements it.
type Attacher interface {
	Attach(ctx context.Context, containerID string, opts mkruntime.AttachOptions) error
}

// Warner reports standing problems (manifests that failed to parse or
// validate) that every read of pods should surface, as the API server's
// warning headers do.
type Warner interface {
	Warnings() []string
}

// Deps is what the server serves. Pods is required; a nil Events, Exec or
// Warnings disables that part (exec answers 501, events are empty).
type Deps struct {
	Pods     PodSource
	Events   EventSource
	Exec     Executor
	Attach   Attacher
	Warnings Warner
	// Services serves Services and Endpoints; nil lists none.
	Services ServiceSource
	// Controllers serves Deployments and ReplicaSets; nil lists none.
	Controllers Controllers
	// Terminator, when set, is told the grace period a pod delete asks for
	// (?gracePeriodSeconds=N) before the pod's manifest is removed.
	Terminator Terminator

	// ManifestDir is where apply and delete write; NodeName is given to the
	// manifest source for defaulting.
	ManifestDir string
	NodeName    string
	// LogDir is the root of the CRI log files (<ns>_<name>_<uid>/<c>/<n>.log).
	LogDir string

	Version VersionInfo

	// Kubeconfig returns the admin kubeconfig of the agent's Kubernetes
	// API; nil answers 404.
	Kubeconfig func() ([]byte, error)
}

// Terminator applies a delete request's grace period to a pod;
// podworker.Manager implements it.
type Terminator interface {
	SetDeletionGrace(namespace, name string, grace time.Duration)
}

// VersionInfo answers GET /version.
type VersionInfo struct {
	Version   string `json:"version"`
	GitCommit string `json:"gitCommit"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Server is the agent's API server. Create it with NewServer.
type Server struct {
	log     *zap.Logger
	deps    Deps
	handler http.Handler
	now     func() time.Time
	limits  limits

	// streams counts hijacked exec connections, which http.Server.Shutdown
	// does not track, so Serve can wait for them.
	streams sync.WaitGroup
}

// NewServer returns a server over deps; it does not listen until Serve.
func NewServer(log *zap.Logger, deps Deps) *Server {
	// Fill what the caller left out (usually all but the version).
	build := BuildVersion(deps.Version.Version)
	if deps.Version.Version == "" {
		deps.Version.Version = build.Version
	}
	if deps.Version.GitCommit == "" {
		deps.Version.GitCommit = build.GitCommit
	}
	if deps.Version.GoVersion == "" {
		deps.Version.GoVersion = build.GoVersion
	}
	if deps.Version.Platform == "" {
		deps.Version.Platform = build.Platform
	}
	s := &Server{log: log, deps: deps, now: time.Now, limits: defaultLimits()}
	s.handler = s.routes()
	return s
}

// Handler returns the server's HTTP handler, for serving it elsewhere.
func (s *Server) Handler() http.Handler { return s.handler }

// limits bound what one client may hold of the server.
type limits struct {
	// header bounds the time to send the request headers, headerBytes
	// their size: 64 KiB is far above what the CLI or kubectl send.
	header      time.Duration
	headerBytes int
	// body bounds the time to send a manifest body (apply, delete).
	body time.Duration
	// idle closes a keep-alive connection nobody uses.
	idle time.Duration
}

func defaultLimits() limits {
	return limits{header: 10 * time.Second, headerBytes: 64 << 10, body: time.Minute, idle: 2 * time.Minute}
}

// Serve listens on socketPath (mode 0600, parent directory created) and
// serves until ctx ends, then shuts down gracefully and removes the socket.
// A socket file left behind by a dead agent is replaced; one that still
// answers is an error, so two agents never share a socket.
func (s *Server) Serve(ctx context.Context, socketPath string) error {
	l, err := listen(socketPath)
	if err != nil {
		return err
	}
	s.log.Info("API listening", zap.String("socket", socketPath))

	srv := &http.Server{
		Handler: s.handler,
		// A client that sends its headers slowly, or too many, is cut off;
		// bodies are bounded where they are read (readBody). No overall
		// read or write timeout: watches, log follows and exec streams
		// last as long as they are used.
		ReadHeaderTimeout: s.limits.header,
		MaxHeaderBytes:    s.limits.headerBytes,
		IdleTimeout:       s.limits.idle,
		// Every request's context ends with ctx, which is what stops
		// watches, log follows and execs at shutdown.
		BaseContext: func(net.Listener) context.Context { return ctx },
		ErrorLog:    zap.NewStdLog(s.log.Named("http")),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(l) }()

	var retErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		retErr = fmt.Errorf("serve API on %s: %w", socketPath, err)
	}

	if httpstop.Shutdown(ctx, srv, &s.streams) {
		s.log.Warn("exec streams still open at shutdown")
	}
	if err := os.Remove(socketPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("remove API socket", zap.String("socket", socketPath), zap.Error(err))
	}
	s.log.Info("API stopped", zap.String("socket", socketPath))
	return retErr
}

// listen creates the socket under a temporary name, restricts it to its
// owner and renames it into place, so it is never reachable with looser
// permissions (the umask is process-wide and not ours to change).
func listen(socketPath string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(socketPath), 0o755); err != nil {
		return nil, fmt.Errorf("create API socket directory: %w", err)
	}
	if err := removeStaleSocket(socketPath); err != nil {
		return nil, err
	}
	tmp := socketPath + ".new"
	_ = os.Remove(tmp)
	l, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", tmp, err)
	}
	// Close must not unlink the temporary name: it is gone after the rename.
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		l.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("chmod API socket: %w", err)
	}
	if err := os.Rename(tmp, socketPath); err != nil {
		l.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("move API socket into place: %w", err)
	}
	return l, nil
}

// removeStaleSocket removes socketPath if it is a socket nobody answers on.
func removeStaleSocket(socketPath string) error {
	fi, err := os.Lstat(socketPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check API socket %s: %w", socketPath, err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("API socket path %s exists and is not a socket", socketPath)
	}
	conn, err := net.DialTimeout("unix", socketPath, time.Second)
	if err == nil {
		conn.Close()
		return fmt.Errorf("API socket %s is in use by another process", socketPath)
	}
	if err := os.Remove(socketPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale API socket %s: %w", socketPath, err)
	}
	return nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /pods", s.listPods)
	mux.HandleFunc("GET /api/v1/pods", s.listPods)
	mux.HandleFunc("GET /api/v1/namespaces/{ns}/pods", s.listPods)
	mux.HandleFunc("GET /api/v1/namespaces/{ns}/pods/{name}", s.getPod)
	mux.HandleFunc("GET /api/v1/namespaces/{ns}/pods/{name}/log", s.podLog)
	mux.HandleFunc("POST /api/v1/namespaces/{ns}/pods/{name}/exec", s.podExec)
	mux.HandleFunc("GET /api/v1/namespaces/{ns}/pods/{name}/exec", s.podExec)
	mux.HandleFunc("POST /api/v1/namespaces/{ns}/pods/{name}/attach", s.podAttach)
	mux.HandleFunc("GET /api/v1/namespaces/{ns}/pods/{name}/attach", s.podAttach)
	mux.HandleFunc("GET /api/v1/events", s.listEvents)
	mux.HandleFunc("GET /api/v1/namespaces/{ns}/events", s.listEvents)
	mux.HandleFunc("POST /apply", s.apply)
	mux.HandleFunc("POST /delete", s.delete)
	mux.HandleFunc("GET /version", s.version)
	mux.HandleFunc("GET /kubeconfig", s.kubeconfig)
	mux.HandleFunc("GET /debug/goroutines", s.goroutines)
	debugProfiles(mux)
	s.serviceRoutes(mux)
	s.appsRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, notFoundPath())
	})
	return s.logRequests(mux)
}

// logRequests logs each request at debug level once it is done.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		next.ServeHTTP(w, r)
		s.log.Debug("API request", zap.String("method", r.Method), zap.String("uri", r.RequestURI),
			zap.Duration("took", time.Since(start)))
	})
}
