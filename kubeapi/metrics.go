package kubeapi

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// Metrics are the node's Prometheus series, served at /metrics with the
// names the API server and the kubelet use for them. One registry per
// Metrics (none global), so that two agents in one process, as in tests,
// never share counters. Safe for concurrent use.
type Metrics struct {
	registry *prometheus.Registry

	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	podStart prometheus.Histogram
	probes   *prometheus.CounterVec
}

// NewMetrics registers the series; pods, when not nil, is read at each
// scrape for the running pod and container gauges.
func NewMetrics() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiserver_request_total",
			Help: "Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.",
		}, []string{"verb", "dry_run", "group", "version", "resource", "subresource", "scope", "component", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "apiserver_request_duration_seconds",
			Help:    "Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.",
			Buckets: []float64{0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60},
		}, []string{"verb", "dry_run", "group", "version", "resource", "subresource", "scope", "component"}),
		podStart: prometheus.NewHistogram(prometheus.HistogramOpts{
			Subsystem: "kubelet", Name: "pod_start_duration_seconds",
			Help:    "Duration in seconds from kubelet seeing a pod for the first time to the pod starting to run",
			Buckets: []float64{0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200, 1800, 2700, 3600},
		}),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Subsystem: "prober", Name: "probe_total",
			Help: "Cumulative number of a liveness, readiness or startup probe for a container by result.",
		}, []string{"probe_type", "result", "container", "pod", "namespace", "pod_uid"}),
	}
	m.registry.MustRegister(m.requests, m.latency, m.podStart, m.probes)
	return m
}

// ObserveProbe counts one probe run: result is "successful", "failed" or
// "unknown" (the prober itself failed), as the kubelet's prober_probe_total.
func (m *Metrics) ObserveProbe(probeType, result string, pod *v1.Pod, container string) {
	m.probes.WithLabelValues(probeType, result, container, pod.Name, pod.Namespace, string(pod.UID)).Inc()
}

// ForgetPod drops the probe series of a pod that is gone, so that the
// series do not grow with every pod the node ever ran.
func (m *Metrics) ForgetPod(uid types.UID) {
	m.probes.DeletePartialMatch(prometheus.Labels{"pod_uid": string(uid)})
}

// handler serves the registry in the Prometheus text format.
func (m *Metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// podGauges is the collector of the kubelet's running pod and container
// gauges, computed from the published pods at each scrape.
type podGauges struct {
	pods       PodStore
	running    *prometheus.Desc
	containers *prometheus.Desc
}

func newPodGauges(pods PodStore) *podGauges {
	return &podGauges{
		pods: pods,
		running: prometheus.NewDesc("kubelet_running_pods",
			"Number of pods that have a running pod sandbox", nil, nil),
		containers: prometheus.NewDesc("kubelet_running_containers",
			"Number of containers currently running", []string{"container_state"}, nil),
	}
}

func (g *podGauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- g.running
	ch <- g.containers
}

// Collect counts like the kubelet's runtime cache: a pod whose sandbox is
// up (PodReadyToStartContainers) runs; containers by state: running,
// exited, or created (waiting with an ID).
func (g *podGauges) Collect(ch chan<- prometheus.Metric) {
	var pods float64
	states := map[string]float64{"running": 0, "exited": 0, "created": 0}
	for _, p := range g.pods.List("") {
		for _, c := range p.Status.Conditions {
			if c.Type == v1.PodReadyToStartContainers && c.Status == v1.ConditionTrue {
				pods++
			}
		}
		for _, list := range [][]v1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses, p.Status.EphemeralContainerStatuses} {
			for _, cs := range list {
				switch {
				case cs.State.Running != nil:
					states["running"]++
				case cs.State.Terminated != nil:
					states["exited"]++
				case cs.State.Waiting != nil && cs.ContainerID != "":
					states["created"]++
				}
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(g.running, prometheus.GaugeValue, pods)
	for state, n := range states {
		ch <- prometheus.MustNewConstMetric(g.containers, prometheus.GaugeValue, n, state)
	}
}

// podStarts measures kubelet_pod_start_duration_seconds: from the pod's
// first sighting (its kubernetes.io/config.seen annotation, as the kubelet
// uses) to the first status with phase Running. The feed reads the store's
// current pod, so a pod that started quickly may be first seen Running:
// it counts when its containers started after the feed did (a pod adopted
// already running at agent start is not a start). Owned by the pod feed's
// goroutine.
type podStarts struct {
	since   time.Time
	pending map[types.UID]time.Time
	done    map[types.UID]bool
}

func newPodStarts(since time.Time) *podStarts {
	return &podStarts{since: since, pending: map[types.UID]time.Time{}, done: map[types.UID]bool{}}
}

const annotationConfigSeen = "kubernetes.io/config.seen"

func (t *podStarts) update(m *Metrics, p *v1.Pod, gone bool) {
	if gone {
		delete(t.pending, p.UID)
		delete(t.done, p.UID)
		m.ForgetPod(p.UID)
		return
	}
	if t.done[p.UID] {
		return
	}
	switch p.Status.Phase {
	case v1.PodPending, "":
		if _, ok := t.pending[p.UID]; !ok {
			t.pending[p.UID] = firstSeen(p)
		}
		return
	case v1.PodRunning:
		if seen, ok := t.pending[p.UID]; ok {
			m.podStart.Observe(time.Since(seen).Seconds())
		} else if startedAfter(p, t.since) {
			m.podStart.Observe(time.Since(firstSeen(p)).Seconds())
		}
	}
	delete(t.pending, p.UID)
	t.done[p.UID] = true
}

// forgetAllBut forgets the pods not in current: a relist (the feed fell
// behind the store) sees no deletion, so pods that went meanwhile would
// stay here, and their probe series in m, for good.
func (t *podStarts) forgetAllBut(m *Metrics, current map[types.UID]bool) {
	for uid := range t.pending {
		if !current[uid] {
			delete(t.pending, uid)
			m.ForgetPod(uid)
		}
	}
	for uid := range t.done {
		if !current[uid] {
			delete(t.done, uid)
			m.ForgetPod(uid)
		}
	}
}

func firstSeen(p *v1.Pod) time.Time {
	seen, err := time.Parse(time.RFC3339Nano, p.Annotations[annotationConfigSeen])
	if err != nil {
		return p.CreationTimestamp.Time
	}
	return seen
}

// startedAfter reports whether every running container of p started
// after t.
func startedAfter(p *v1.Pod, t time.Time) bool {
	running := false
	for _, c := range p.Status.ContainerStatuses {
		if r := c.State.Running; r != nil {
			if !r.StartedAt.After(t) {
				return false
			}
			running = true
		}
	}
	return running
}

// instrument counts each authenticated request by the API server's labels.
func (m *Metrics) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(rw, r)
		l := requestLabels(r)
		code := rw.code
		if code == 0 {
			code = http.StatusOK
		}
		m.requests.WithLabelValues(l.verb, l.dryRun, l.group, l.version, l.resource, l.subresource, l.scope, "apiserver", strconv.Itoa(code)).Inc()
		if l.verb != "WATCH" && l.verb != "CONNECT" {
			m.latency.WithLabelValues(l.verb, l.dryRun, l.group, l.version, l.resource, l.subresource, l.scope, "apiserver").Observe(time.Since(start).Seconds())
		}
	})
}

type requestLabelSet struct{ verb, dryRun, group, version, resource, subresource, scope string }

// requestLabels names a request as the API server's metrics do: verbs in
// capitals (LIST, GET, WATCH, CREATE, …; CONNECT for exec and attach),
// scope resource/namespace/cluster, and for non-resource paths (/version,
// /healthz, …) the method alone.
func requestLabels(r *http.Request) requestLabelSet {
	l := requestLabelSet{}
	if r.URL.Query().Get("dryRun") != "" {
		l.dryRun = "All"
	}
	path := strings.Trim(r.URL.Path, "/")
	segs := strings.Split(path, "/")
	var gv schema.GroupVersion
	var rest []string
	switch {
	case segs[0] == "api" && len(segs) >= 3:
		gv, rest = schema.GroupVersion{Version: segs[1]}, segs[2:]
	case segs[0] == "apis" && len(segs) >= 4:
		gv, rest = schema.GroupVersion{Group: segs[1], Version: segs[2]}, segs[3:]
	}
	req, ok := parseResourcePath(gv, rest)
	if rest == nil || !ok {
		l.verb = r.Method
		return l
	}
	l.group, l.version, l.resource, l.subresource = gv.Group, gv.Version, req.info.name, req.subresource
	switch {
	case req.name != "":
		l.scope = "resource"
	case req.namespace != "":
		l.scope = "namespace"
	default:
		l.scope = "cluster"
	}
	watch := req.watchPath || r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1"
	switch {
	case req.subresource == "exec" || req.subresource == "attach" || req.subresource == "portforward" || req.subresource == "proxy":
		l.verb = "CONNECT"
	case r.Method == http.MethodGet && watch:
		l.verb = "WATCH"
	case r.Method == http.MethodGet && req.name == "":
		l.verb = "LIST"
	case r.Method == http.MethodDelete && req.name == "":
		l.verb = "DELETECOLLECTION"
	case r.Method == http.MethodPost:
		l.verb = "POST"
	default:
		l.verb = r.Method
	}
	return l
}

// statusWriter remembers the status code; it passes Flush (watch, logs -f)
// and Hijack (exec, attach over WebSocket) through.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("the connection cannot be hijacked")
	}
	w.code = http.StatusSwitchingProtocols
	return hj.Hijack()
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
