package kubeapi

import (
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/minikubelet/minikubelet/api"
)

// Deps are the agent's stores and services the API serves.
type Deps struct {
	Pods     PodStore
	Services ServiceStore
	Events   EventStore
	// Node builds the Node object; nil serves no node.
	Node func() Object
	// Pod logs are served by the agent's socket API, whose handler takes
	// the same path and parameters as the Kubernetes API.
	Logs http.Handler
	// Configs serves the ConfigMaps and Secrets of the manifests
	// directory; nil lists none but the kube-root-ca.crt ConfigMaps.
	Configs ConfigStore
	// Apps serves Deployments and ReplicaSets; nil lists none.
	Apps AppsStore
	// Exec runs commands in containers; nil answers exec with 503.
	Exec Executor
	// Attach connects to containers' stdio; nil answers attach with 503.
	Attach Attacher
	// PortForward connects to ports inside pods; nil answers port-forward
	// with 503.
	PortForward PortForwarder
	// ManifestDir is where writes go (source.Apply, source.Delete); ""
	// refuses writes. NodeName is given to the source for defaulting.
	ManifestDir string
	NodeName    string
	// Terminator, when set, is told the grace period a pod delete asks
	// for (kubectl delete --grace-period, --now, --force).
	Terminator api.Terminator
	// Health are the agent's checks for /livez, /readyz and /healthz,
	// beside ping (and shutdown, for readyz).
	Health []HealthCheck
	// Metrics, when set, is the registry /metrics serves, shared with the
	// parts that count into it (the prober); nil makes a private one.
	Metrics *Metrics
}

func (s *Server) serveSubresource(w http.ResponseWriter, r *http.Request, req resourceRequest) {
	switch {
	case req.subresource == "status" && r.Method == http.MethodGet:
		s.get(w, r, req)
	case req.subresource == "scale" && (req.info.key() == keyDeployments || req.info.key() == keyReplicaSets):
		s.serveScale(w, r, req)
	case req.info.key() == keyPods && req.subresource == "log" && r.Method == http.MethodGet && s.deps.Logs != nil:
		s.deps.Logs.ServeHTTP(w, r)
	case req.info.key() == keyPods && req.subresource == "exec" && (r.Method == http.MethodGet || r.Method == http.MethodPost):
		s.serveExec(w, r, req)
	case req.info.key() == keyPods && req.subresource == "attach" && (r.Method == http.MethodGet || r.Method == http.MethodPost):
		s.serveAttach(w, r, req)
	case req.info.key() == keyPods && req.subresource == "portforward" && (r.Method == http.MethodGet || r.Method == http.MethodPost):
		s.servePortForward(w, r, req)
	default:
		writeError(w, methodNotSupported(req, r.Method))
	}
}

func methodNotSupported(req resourceRequest, method string) error {
	gr := req.info.groupResource()
	if req.subresource != "" {
		gr.Resource += "/" + req.subresource
	}
	return apierrors.NewMethodNotSupported(gr, verbOf(method))
}

func verbOf(method string) string {
	switch method {
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		return "delete"
	}
	return "get"
}
