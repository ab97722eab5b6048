package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

// watchBuffer is how many changes a watch may fall behind before the store
// drops it (the client then lists again, as with the API server).
const watchBuffer = 256

// InitialEventsEndAnnotation marks the bookmark that ends the initial ADDED
// events of a watch asked for with sendInitialEvents=true (KEP-3157).
const InitialEventsEndAnnotation = "k8s.io/initial-events-end"

var podTypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}

// podFilter selects pods for a list or watch.
type podFilter struct {
	namespace string // "" for all
	name      string // "" for all
	labels    labels.Selector
	fields    fields.Selector
}

func (f podFilter) matches(p *v1.Pod) bool {
	if f.namespace != "" && p.Namespace != f.namespace {
		return false
	}
	if f.name != "" && p.Name != f.name {
		return false
	}
	return f.labels.Matches(labels.Set(p.Labels)) && f.fields.Matches(PodFields(p))
}

// PodFields are the field selector keys the API server supports for pods.
func PodFields(p *v1.Pod) fields.Set {
	return fields.Set{
		"metadata.name":            p.Name,
		"metadata.namespace":       p.Namespace,
		"spec.nodeName":            p.Spec.NodeName,
		"spec.restartPolicy":       string(p.Spec.RestartPolicy),
		"spec.schedulerName":       p.Spec.SchedulerName,
		"spec.serviceAccountName":  p.Spec.ServiceAccountName,
		"spec.hostNetwork":         strconv.FormatBool(p.Spec.HostNetwork),
		"status.phase":             string(p.Status.Phase),
		"status.podIP":             p.Status.PodIP,
		"status.nominatedNodeName": p.Status.NominatedNodeName,
	}
}

func parseFilter(r *http.Request) (podFilter, error) {
	f := podFilter{namespace: r.PathValue("ns"), name: r.PathValue("name")}
	q := r.URL.Query()
	var err error
	if f.labels, err = labels.Parse(q.Get("labelSelector")); err != nil {
		return f, badRequest(fmt.Sprintf("unable to parse requirement: %v", err))
	}
	if f.fields, err = fields.ParseSelector(q.Get("fieldSelector")); err != nil {
		return f, badRequest(fmt.Sprintf("invalid field selector: %v", err))
	}
	return f, nil
}

// findPod returns the pod named name in namespace. When an old instance
// (UID) is still terminating beside its replacement, the newest wins.
func (s *Server) findPod(namespace, name string) *v1.Pod {
	var found *v1.Pod
	for _, p := range s.deps.Pods.List(namespace) {
		if p.Name == name {
			found = p // List orders same-named pods by creation time
		}
	}
	return found
}

func (s *Server) warn(w http.ResponseWriter) {
	if s.deps.Warnings != nil {
		addWarnings(w.Header(), s.deps.Warnings.Warnings())
	}
}

// listPods answers a pod list, or watches the pods it selects.
func (s *Server) listPods(w http.ResponseWriter, r *http.Request) {
	s.servePods(w, r, func(f podFilter) {
		list := v1.PodList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PodList"}, Items: []v1.Pod{}}
		for _, p := range s.deps.Pods.List(f.namespace) {
			if f.matches(p) {
				list.Items = append(list.Items, *p)
			}
		}
		writeJSON(w, http.StatusOK, &list)
	})
}

// getPod answers one pod, or watches it.
func (s *Server) getPod(w http.ResponseWriter, r *http.Request) {
	s.servePods(w, r, func(f podFilter) {
		pod := s.findPod(f.namespace, f.name)
		if pod == nil {
			writeError(w, podNotFound(f.name))
			return
		}
		pod.TypeMeta = podTypeMeta
		writeJSON(w, http.StatusOK, pod)
	})
}

// servePods is what a pod list and a pod get share: the filter from the
// path and query, the warnings header, and ?watch=true, which streams the
// selected pods' changes the same way for both. Only the plain answer is
// left to answer.
func (s *Server) servePods(w http.ResponseWriter, r *http.Request, answer func(podFilter)) {
	f, err := parseFilter(r)
	if err != nil {
		writeError(w, err)
		return
	}
	s.warn(w)
	if isWatch(r) {
		s.watchPods(w, r, f)
		return
	}
	answer(f)
}

func isWatch(r *http.Request) bool {
	v := r.URL.Query().Get("watch")
	return v == "true" || v == "1"
}

// watchEvent is metav1.WatchEvent with the object left typed for encoding.
type watchEvent struct {
	Type   watch.EventType `json:"type"`
	Object *v1.Pod         `json:"object"`
}

// watchPods streams changes as newline-delimited watch events: first ADDED
// for every pod that matches now, then each change. It subscribes before
// listing so nothing falls between the two, and it remembers what it sent,
// so a change seen both in the list and on the channel goes out once. A pod
// that stops matching (labels changed) is reported DELETED, as the API
// server does.
func (s *Server) watchPods(w http.ResponseWriter, r *http.Request, f podFilter) {
	ctx := r.Context()
	ch := s.deps.Pods.Watch(ctx, watchBuffer)

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	// Pods from the store's channel are shared with other watchers: send
	// a shallow copy carrying the type.
	send := func(t watch.EventType, p *v1.Pod) bool {
		c := *p
		c.TypeMeta = podTypeMeta
		return enc.Encode(watchEvent{Type: t, Object: &c}) == nil
	}
	flush := func() {
		if flusher != nil {
			flusher.Flush()
		}
	}

	sent := map[types.UID]*v1.Pod{}
	for _, p := range s.deps.Pods.List(f.namespace) {
		if !f.matches(p) {
			continue
		}
		if !send(watch.Added, p) {
			return
		}
		sent[p.UID] = p
	}
	q := r.URL.Query()
	if q.Get("sendInitialEvents") == "true" && q.Get("allowWatchBookmarks") == "true" {
		mark := &v1.Pod{ObjectMeta: metav1.ObjectMeta{
			Annotations: map[string]string{InitialEventsEndAnnotation: "true"},
		}}
		if !send(watch.Bookmark, mark) {
			return
		}
	}
	flush()

	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-ch:
			if !ok {
				// Fell behind: end the watch; the client lists again.
				return
			}
			t, p := nextWatchEvent(sent, f, e.Type, e.Pod)
			if t == "" {
				continue
			}
			if !send(t, p) {
				return
			}
			flush()
		}
	}
}

// nextWatchEvent decides what a store change means to one watcher, given
// what it was already sent, and records it. "" means nothing to send.
func nextWatchEvent(sent map[types.UID]*v1.Pod, f podFilter, t watch.EventType, p *v1.Pod) (watch.EventType, *v1.Pod) {
	prev, known := sent[p.UID]
	if t == watch.Deleted || !f.matches(p) {
		if !known {
			return "", nil
		}
		delete(sent, p.UID)
		return watch.Deleted, p
	}
	if known && equality.Semantic.DeepEqual(prev, p) {
		return "", nil
	}
	sent[p.UID] = p
	if known {
		return watch.Modified, p
	}
	return watch.Added, p
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
