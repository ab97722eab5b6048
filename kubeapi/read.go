package kubeapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
)

// Watches end after this long unless timeoutSeconds says otherwise, as the
// API server's --min-request-timeout does; clients watch again.
const maxWatch = 30 * time.Minute

// bookmarkEvery is how often a watch that allows bookmarks gets one.
const bookmarkEvery = time.Minute

func (r *resourceInfo) groupResource() schema.GroupResource {
	return schema.GroupResource{Group: r.gv.Group, Resource: r.name}
}

// selector is a parsed list or watch filter.
type selector struct {
	namespace string
	name      string
	labels    labels.Selector
	fields    fields.Selector
	key       string
}

func (f selector) matches(o Object) bool {
	if o == nil {
		return false
	}
	if f.namespace != "" && o.GetNamespace() != f.namespace {
		return false
	}
	if f.name != "" && o.GetName() != f.name {
		return false
	}
	return f.labels.Matches(labels.Set(o.GetLabels())) && (f.fields.Empty() || f.fields.Matches(fieldsFor(f.key, o)))
}

func parseSelector(r *http.Request, req resourceRequest) (selector, error) {
	q := r.URL.Query()
	f := selector{namespace: req.namespace, name: req.name, key: req.info.key()}
	var err error
	if f.labels, err = labels.Parse(q.Get("labelSelector")); err != nil {
		return f, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", err))
	}
	if f.fields, err = fields.ParseSelector(q.Get("fieldSelector")); err != nil {
		return f, apierrors.NewBadRequest(fmt.Sprintf("invalid field selector: %v", err))
	}
	if err := supportedFields(f.key, sampleObject(f.key), f.fields); err != nil {
		return f, apierrors.NewBadRequest(err.Error())
	}
	return f, nil
}

// tableRequest is what the Accept header asks for: a Table (server-side
// printing, as kubectl get asks) and what each row carries.
type tableRequest struct {
	table         bool
	includeObject metav1.IncludeObjectPolicy
}

func parseTableRequest(r *http.Request) tableRequest {
	var t tableRequest
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if strings.Contains(part, "as=Table") && strings.Contains(part, "g=meta.k8s.io") {
			t.table = true
			break
		}
		if p := strings.TrimSpace(strings.Split(part, ";")[0]); p == "application/json" || p == "*/*" {
			break
		}
	}
	t.includeObject = metav1.IncludeMetadata
	if v := r.URL.Query().Get("includeObject"); v != "" {
		t.includeObject = metav1.IncludeObjectPolicy(v)
	}
	return t
}

// table prints objs as the API server's Table.
func (s *Server) table(key string, objs []Object, rv uint64, t tableRequest, headers bool) *metav1.Table {
	p := printerFor[key]
	tbl := &metav1.Table{
		TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "Table"},
		Rows:     make([]metav1.TableRow, 0, len(objs)),
	}
	if rv != 0 {
		tbl.ResourceVersion = strconv.FormatUint(rv, 10)
	}
	if headers {
		tbl.ColumnDefinitions = p.columns
	}
	now := time.Now()
	for _, o := range objs {
		row := metav1.TableRow{Cells: p.cells(o, now)}
		switch t.includeObject {
		case metav1.IncludeObject:
			row.Object = runtime.RawExtension{Object: o}
		case metav1.IncludeNone:
		default:
			m := &metav1.PartialObjectMetadata{
				TypeMeta:   metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadata"},
				ObjectMeta: *o.(metav1.ObjectMetaAccessor).GetObjectMeta().(*metav1.ObjectMeta),
			}
			row.Object = runtime.RawExtension{Object: m}
		}
		tbl.Rows = append(tbl.Rows, row)
	}
	return tbl
}

// serveResource answers a request on a served resource.
func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, req resourceRequest) {
	if req.name != "" && req.info.namespaced && req.namespace == "" {
		writeError(w, notFoundPath())
		return
	}
	if req.subresource != "" {
		s.serveSubresource(w, r, req)
		return
	}
	switch r.Method {
	case http.MethodGet:
		if req.watchPath || isWatch(r) {
			s.watch(w, r, req)
			return
		}
		if req.name != "" {
			s.get(w, r, req)
			return
		}
		s.list(w, r, req)
	default:
		s.serveWrite(w, r, req)
	}
}

func isWatch(r *http.Request) bool {
	v := r.URL.Query().Get("watch")
	return v == "true" || v == "1"
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, req resourceRequest) {
	o, ok := s.cache.Get(req.info.key(), req.namespace, req.name)
	if !ok {
		writeError(w, apierrors.NewNotFound(req.info.groupResource(), req.name))
		return
	}
	if t := parseTableRequest(r); t.table {
		writeJSON(w, http.StatusOK, s.table(req.info.key(), []Object{o}, 0, t, true))
		return
	}
	writeJSON(w, http.StatusOK, o)
}

// objectList is any typed list (PodList, ServiceList…) as JSON.
type objectList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []Object `json:"items"`
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, req resourceRequest) {
	f, err := parseSelector(r, req)
	if err != nil {
		writeError(w, err)
		return
	}
	all, rv := s.cache.List(req.info.key(), req.namespace)
	objs := all[:0:0]
	for _, o := range all {
		if f.matches(o) {
			objs = append(objs, o)
		}
	}
	if t := parseTableRequest(r); t.table {
		writeJSON(w, http.StatusOK, s.table(req.info.key(), objs, rv, t, true))
		return
	}
	writeJSON(w, http.StatusOK, &objectList{
		TypeMeta: metav1.TypeMeta{APIVersion: req.info.gv.String(), Kind: req.info.kind + "List"},
		ListMeta: metav1.ListMeta{ResourceVersion: strconv.FormatUint(rv, 10)},
		Items:    objs,
	})
}

// watchEvent is metav1.WatchEvent with the object left typed for encoding.
type watchEvent struct {
	Type   watch.EventType `json:"type"`
	Object any             `json:"object"`
}

// InitialEventsEndAnnotation marks the bookmark that ends the initial
// events of a watch asked for with sendInitialEvents=true (KEP-3157).
const InitialEventsEndAnnotation = "k8s.io/initial-events-end"

// watch streams changes from the cache's history: from the resourceVersion
// asked for, or (none, "0", or sendInitialEvents) the current state as
// ADDED first. An object that stops matching the selectors is DELETED, one
// that starts matching ADDED, as with the API server.
func (s *Server) watch(w http.ResponseWriter, r *http.Request, req resourceRequest) {
	f, err := parseSelector(r, req)
	if err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	key := req.info.key()
	t := parseTableRequest(r)
	initial := q.Get("sendInitialEvents") == "true"
	var from uint64
	var first []Object
	switch rvs := q.Get("resourceVersion"); {
	case initial || rvs == "" || rvs == "0":
		first, from = s.cache.List(key, req.namespace)
	default:
		from, err = strconv.ParseUint(rvs, 10, 64)
		if err != nil {
			writeError(w, apierrors.NewBadRequest(fmt.Sprintf("invalid resource version: %q", rvs)))
			return
		}
	}
	timeout := maxWatch
	if ts := q.Get("timeoutSeconds"); ts != "" {
		if n, err := strconv.Atoi(ts); err == nil && n > 0 {
			timeout = time.Duration(n) * time.Second
		}
	}
	bookmarks := q.Get("allowWatchBookmarks") == "true"

	ctx := r.Context()
	end := time.NewTimer(timeout)
	defer end.Stop()
	bookmark := time.NewTicker(bookmarkEvery)
	defer bookmark.Stop()

	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	headers := true
	send := func(typ watch.EventType, o Object) bool {
		var obj any = o
		if t.table && typ != watch.Bookmark && typ != watch.Error {
			// The Table of an event has the object's resourceVersion.
			rv, _ := strconv.ParseUint(o.GetResourceVersion(), 10, 64)
			obj = s.table(key, []Object{o}, rv, t, headers)
			headers = false
		}
		return enc.Encode(watchEvent{Type: typ, Object: obj}) == nil
	}
	flush := func() {
		if flusher != nil {
			flusher.Flush()
		}
	}
	for _, o := range first {
		if f.matches(o) && !send(watch.Added, o) {
			return
		}
	}
	if initial && bookmarks {
		mark := sampleObject(key)
		mark.SetResourceVersion(strconv.FormatUint(from, 10))
		mark.SetAnnotations(map[string]string{InitialEventsEndAnnotation: "true"})
		setKind(mark, req.info)
		if !send(watch.Bookmark, mark) {
			return
		}
	}
	flush()

	for {
		changes, changed, ok := s.cache.since(from)
		if !ok {
			st := apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d (%d)", from, s.cache.oldestWatchable())).Status()
			st.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Status"}
			_ = enc.Encode(watchEvent{Type: watch.Error, Object: &st})
			flush()
			return
		}
		for _, c := range changes {
			from = c.rv
			if c.resource != key {
				continue
			}
			typ, o := watchTypeFor(f, c)
			if typ == "" {
				continue
			}
			if !send(typ, o) {
				return
			}
		}
		if len(changes) > 0 {
			flush()
		}
		select {
		case <-ctx.Done():
			return
		case <-end.C:
			return
		case <-bookmark.C:
			if bookmarks {
				mark := sampleObject(key)
				mark.SetResourceVersion(strconv.FormatUint(from, 10))
				setKind(mark, req.info)
				if !send(watch.Bookmark, mark) {
					return
				}
				flush()
			}
		case <-changed:
		}
	}
}

// watchTypeFor says what change c means to a watcher with filter f.
func watchTypeFor(f selector, c change) (watch.EventType, Object) {
	now, before := f.matches(c.obj), c.prev != nil && f.matches(c.prev)
	switch {
	case c.typ == watch.Deleted:
		if before {
			return watch.Deleted, c.obj
		}
	case now && before:
		return watch.Modified, c.obj
	case now:
		return watch.Added, c.obj
	case before:
		return watch.Deleted, c.obj
	}
	return "", nil
}

func setKind(o Object, info *resourceInfo) {
	o.GetObjectKind().SetGroupVersionKind(info.gv.WithKind(info.kind))
}
