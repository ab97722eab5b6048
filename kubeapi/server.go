// Package kubeapi serves the part of the Kubernetes API that kubectl uses,
// over HTTPS with client certificates, from the agent's own stores: the
// pods' published status, Services and Endpoints, events and the node. It
// is what lets the unmodified kubectl drive the node; the agent's unix
// socket API (package api) stays as it is beside it.
package kubeapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"

	"github.com/minikubelet/minikubelet/internal/atomicfile"
	"github.com/minikubelet/minikubelet/internal/httpstop"
)

// ServedVersion is the Kubernetes release whose API this server answers
// as (the k8s.io/api module the project pins).
const (
	ServedMajor   = "1"
	ServedMinor   = "34"
	ServedVersion = "v1.34.2"
	// servedMinCompatibilityMinor is /version's minCompatibilityMinor:
	// the release before the served one.
	servedMinCompatibilityMinor = "33"
)

// Config says where and how to serve.
type Config struct {
	// Address is host:port to listen on (default 127.0.0.1:6443).
	Address string
	// PKIDir holds the CA, serving and admin certificates.
	PKIDir string
	// Kubeconfig is where the admin kubeconfig is written (mode 0600).
	Kubeconfig string
	// Names are added to the serving certificate's SANs, beside localhost,
	// 127.0.0.1 and the listening address.
	Names Names
	// AgentVersion is the agent's own version, shown in /version's
	// gitVersion build metadata.
	AgentVersion string
	// InClusterAddress, when set, is a second host:port served alike: the
	// `kubernetes` Service's ClusterIP, where pods reach the API (the
	// Service's Endpoints name it).
	InClusterAddress string
}

// Server is the Kubernetes API server of the node.
type Server struct {
	log  *zap.Logger
	cfg  Config
	deps Deps
	addr string // the address actually listened on
	// listeners are bound by Listen and served by Run.
	listeners []net.Listener
	openapi   map[string]openapiDoc

	cache   *Cache
	codec   *codec
	fields  *fieldManagers
	started time.Time
	metrics *Metrics
	// stopping fails readyz's shutdown check once Run is told to stop.
	stopping atomic.Bool

	mu   sync.RWMutex
	pki  *PKI
	pool *x509.CertPool

	// streams counts hijacked connections (exec, attach, port-forward),
	// which http.Server.Shutdown does not wait for.
	streams sync.WaitGroup
}

// New returns a server; nothing happens until Run.
func New(log *zap.Logger, cfg Config, deps Deps) (*Server, error) {
	docs, err := loadOpenAPI()
	if err != nil {
		return nil, fmt.Errorf("load OpenAPI documents: %w", err)
	}
	m := deps.Metrics
	if m == nil {
		m = NewMetrics()
	}
	if deps.Pods != nil {
		if err := m.registry.Register(newPodGauges(deps.Pods)); err != nil {
			return nil, fmt.Errorf("register pod gauges: %w", err)
		}
	}
	c := newCodec()
	return &Server{log: log, cfg: cfg, deps: deps, openapi: docs, cache: NewCache(historySize), codec: c,
		fields: newFieldManagers(docs, c.scheme), started: time.Now(), metrics: m}, nil
}

// EnsureCredentials makes (or renews) the certificates and writes the
// kubeconfig; Run calls it, and so can a caller that wants the kubeconfig
// before serving.
func (s *Server) EnsureCredentials(now time.Time) error {
	names := Names{DNS: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPs: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}}
	if host, _, err := net.SplitHostPort(s.cfg.Address); err == nil {
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
			names.IPs = append(names.IPs, ip)
		} else if ip == nil && host != "" {
			names.DNS = append(names.DNS, host)
		}
	}
	names.DNS = appendNew(names.DNS, s.cfg.Names.DNS...)
	for _, ip := range s.cfg.Names.IPs {
		if ip != nil {
			names.IPs = append(names.IPs, ip)
		}
	}
	p, err := EnsurePKI(s.cfg.PKIDir, names, now)
	if err != nil {
		return err
	}
	kc, err := p.Kubeconfig(s.cfg.Address)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.cfg.Kubeconfig), 0o755); err != nil {
		return fmt.Errorf("create kubeconfig directory: %w", err)
	}
	if err := atomicfile.Write(s.cfg.Kubeconfig, kc, 0o600); err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AddCert(p.CA)
	s.mu.Lock()
	s.pki, s.pool = p, pool
	s.mu.Unlock()
	return nil
}

func appendNew(list []string, more ...string) []string {
	for _, m := range more {
		if m != "" && !contains(list, m) {
			list = append(list, m)
		}
	}
	return list
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// historySize is how many changes a watch can start behind the newest; an
// older resourceVersion gets 410 Gone and kubectl relists. Each change
// holds the object and its previous version (a pod is some KiB), so this
// bounds the cache's memory: 4096 could hold tens of MiB, about the growth
// seen in RELIABILITY.md's soak with the API on (not proven to be it). The
// API server's watch cache keeps 100 per resource by default.
const historySize = 1024

// renewCheck is how often Run checks the certificates' expiry.
const renewCheck = time.Hour

// Listen binds the API's addresses. The agent calls it before its own
// socket answers, so a client that sees the agent up finds the Kubernetes
// API listening too, and a taken port fails the start. Run calls it when
// the caller did not.
func (s *Server) Listen() error {
	if s.listeners != nil {
		return nil
	}
	l, err := net.Listen("tcp", s.cfg.Address)
	if err != nil {
		return fmt.Errorf("listen for the Kubernetes API: %w", err)
	}
	listeners := []net.Listener{l}
	if a := s.cfg.InClusterAddress; a != "" {
		l2, err := net.Listen("tcp", a)
		if err != nil {
			_ = l.Close()
			return fmt.Errorf("listen for the Kubernetes API on the kubernetes Service's address: %w", err)
		}
		listeners = append(listeners, l2)
	}
	s.addr = l.Addr().String()
	s.listeners = listeners
	return nil
}

// Run serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	if err := s.EnsureCredentials(time.Now()); err != nil {
		return fmt.Errorf("API credentials: %w", err)
	}
	if err := s.Listen(); err != nil {
		return err
	}
	listeners := s.listeners
	if s.deps.Pods != nil {
		go s.feedPods(ctx)
	}
	if s.deps.Services != nil {
		go s.feedServices(ctx)
	}
	if s.deps.Events != nil {
		go s.feedEvents(ctx)
	}
	if s.deps.Apps != nil {
		go s.feedApps(ctx)
	}
	go s.feedDerived(ctx)
	tlsCfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Ask for a certificate but check it in the handler, as the API
		// server does, so a missing or foreign one gets a 401 Status
		// rather than a failed handshake.
		ClientAuth: tls.RequestClientCert,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			s.mu.RLock()
			defer s.mu.RUnlock()
			return &s.pki.Server, nil
		},
		NextProtos: []string{"http/1.1"},
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          zap.NewStdLog(s.log.Named("http")),
	}
	s.log.Info("Kubernetes API listening", zap.String("address", s.addr), zap.String("inCluster", s.cfg.InClusterAddress),
		zap.String("kubeconfig", s.cfg.Kubeconfig))
	serveErr := make(chan error, len(listeners))
	for _, l := range listeners {
		go func() { serveErr <- srv.Serve(tls.NewListener(l, tlsCfg)) }()
	}

	tick := time.NewTicker(renewCheck)
	defer tick.Stop()
	var retErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-serveErr:
			retErr = fmt.Errorf("serve the Kubernetes API on %s: %w", s.addr, err)
			break loop
		case now := <-tick.C:
			s.mu.RLock()
			due := s.pki.NeedsRenewal(now)
			s.mu.RUnlock()
			if due {
				if err := s.EnsureCredentials(now); err != nil {
					s.log.Error("renew API certificates", zap.Error(err))
				} else {
					s.log.Info("API certificates renewed")
				}
			}
		}
	}
	s.stopping.Store(true)
	if httpstop.Shutdown(ctx, srv, &s.streams) {
		s.log.Warn("exec, attach or port-forward streams still open at shutdown")
	}
	return retErr
}

// Handler is the authenticated API.
func (s *Server) Handler() http.Handler {
	return s.authenticate(s.metrics.instrument(http.HandlerFunc(s.route)))
}

// authenticate lets through requests with a client certificate issued by
// the agent's CA; anything else gets the API server's 401.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.verified(r) {
			writeError(w, apierrors.NewUnauthorized("Unauthorized"))
			return
		}
		start := time.Now()
		next.ServeHTTP(w, r)
		s.log.Debug("API request", zap.String("method", r.Method), zap.String("uri", r.RequestURI),
			zap.Duration("took", time.Since(start)))
	})
}

func (s *Server) verified(r *http.Request) bool {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return false
	}
	inter := x509.NewCertPool()
	for _, c := range r.TLS.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	s.mu.RLock()
	pool := s.pool
	s.mu.RUnlock()
	_, err := r.TLS.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return err == nil
}

// route dispatches on the Kubernetes API's path grammar.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	path := strings.Trim(r.URL.Path, "/")
	segs := strings.Split(path, "/")
	switch {
	case path == "version":
		s.serveVersion(w)
	case segs[0] == "healthz" || segs[0] == "readyz" || segs[0] == "livez":
		if len(segs) > 2 {
			http.NotFound(w, r)
			return
		}
		s.serveHealth(w, r, segs[0], strings.Join(segs[1:], ""))
	case path == "metrics" && r.Method == http.MethodGet:
		s.metrics.handler().ServeHTTP(w, r)
	case path == "api":
		s.serveAPI(w, r)
	case path == "apis":
		s.serveAPIs(w, r)
	case path == "openapi/v3":
		s.serveOpenAPIRoot(w)
	case strings.HasPrefix(path, "openapi/v3/"):
		s.serveOpenAPIDoc(w, r, strings.TrimPrefix(path, "openapi/v3/"))
	case segs[0] == "api" && len(segs) >= 2:
		s.routeGroupVersion(w, r, schema.GroupVersion{Version: segs[1]}, segs[2:])
	case segs[0] == "apis" && len(segs) == 2:
		s.serveGroup(w, segs[1])
	case segs[0] == "apis" && len(segs) >= 3:
		s.routeGroupVersion(w, r, schema.GroupVersion{Group: segs[1], Version: segs[2]}, segs[3:])
	default:
		writeError(w, notFoundPath())
	}
}

// routeGroupVersion handles /api/v1/... and /apis/G/V/...: the discovery
// list, or a resource request.
func (s *Server) routeGroupVersion(w http.ResponseWriter, r *http.Request, gv schema.GroupVersion, rest []string) {
	if len(rest) == 0 {
		s.serveResourceList(w, gv)
		return
	}
	req, ok := parseResourcePath(gv, rest)
	if !ok {
		writeError(w, notFoundPath())
		return
	}
	s.serveResource(w, r, req)
}

// resourceRequest is a parsed resource path.
type resourceRequest struct {
	info        *resourceInfo
	namespace   string // "" for all namespaces or cluster-scoped
	name        string
	subresource string
	watchPath   bool // the deprecated /watch/ prefix
}

// parseResourcePath parses [watch/][namespaces/NS/]RESOURCE[/NAME[/SUB]].
func parseResourcePath(gv schema.GroupVersion, segs []string) (resourceRequest, bool) {
	var req resourceRequest
	if len(segs) > 0 && segs[0] == "watch" {
		req.watchPath = true
		segs = segs[1:]
	}
	if len(segs) >= 3 && segs[0] == "namespaces" {
		// namespaces/NS/RESOURCE…; "namespaces/NAME[/SUB]" is the namespace
		// object itself and falls through.
		if _, ok := lookup(gv, segs[2]); ok {
			req.namespace = segs[1]
			segs = segs[2:]
		}
	}
	if len(segs) == 0 || len(segs) > 3 {
		return req, false
	}
	info, ok := lookup(gv, segs[0])
	if !ok {
		return req, false
	}
	req.info = info
	if req.namespace != "" && !info.namespaced {
		return req, false
	}
	if len(segs) >= 2 {
		req.name = segs[1]
	}
	if len(segs) == 3 {
		req.subresource = segs[2]
	}
	return req, true
}

func (s *Server) serveVersion(w http.ResponseWriter) {
	// The emulation version is the served release, and the oldest release
	// it is compatible with the one before, as a kube-apiserver's defaults.
	v := version.Info{
		Major: ServedMajor, Minor: ServedMinor, GitVersion: ServedVersion + "+minikubelet",
		EmulationMajor: ServedMajor, EmulationMinor: ServedMinor,
		MinCompatibilityMajor: ServedMajor, MinCompatibilityMinor: servedMinCompatibilityMinor,
		GitCommit: s.cfg.AgentVersion, GitTreeState: "clean",
		GoVersion: runtime.Version(), Compiler: runtime.Compiler, Platform: runtime.GOOS + "/" + runtime.GOARCH,
	}
	writeJSON(w, http.StatusOK, &v)
}

// writeError answers with err as the API server's Status object; errors
// that are not API errors become 500s.
func writeError(w http.ResponseWriter, err error) {
	var st metav1.Status
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		st = se.Status()
	} else {
		st = apierrors.NewInternalError(err).Status()
	}
	st.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Status"}
	if st.Status == "" {
		st.Status = metav1.StatusFailure
	}
	w.Header().Set("Cache-Control", "no-cache, private")
	writeJSON(w, int(st.Code), &st)
}

func notFoundPath() error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusNotFound, Reason: metav1.StatusReasonNotFound,
		Message: "the server could not find the requested resource",
		Details: &metav1.StatusDetails{},
	}}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	writeObject(w, code, "application/json", v)
}

func writeObject(w http.ResponseWriter, code int, contentType string, v any) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
