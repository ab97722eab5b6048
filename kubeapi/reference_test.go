package kubeapi

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minikubelet/minikubelet/services"
	"github.com/minikubelet/minikubelet/source"
)

// These tests hold the agent's API to the golden answers of the real
// kube-apiserver in testdata/reference/ (see reference_norm_test.go for
// how they were recorded and normalized; scripts/reference-apiserver
// records them again). The agent is served in-process, with what the
// recorder had created there (pod, Service and Deployment web) already in
// its cache; each exchange of referenceExchanges that has a golden is sent
// to it and its answer, normalized alike, is compared field by field.

// referenceServer is the agent's API with pod, Service and Deployment
// "web" served, and a manifests directory to write to.
func referenceServer(t *testing.T) *Server {
	t.Helper()
	s, err := New(zaptest.NewLogger(t), Config{Address: "127.0.0.1:6443"}, Deps{ManifestDir: t.TempDir(), NodeName: "node1"})
	if err != nil {
		t.Fatal(err)
	}
	s.addr = "127.0.0.1:6443"
	// The namespaces kube-apiserver makes (first, so that web's
	// resourceVersion is not "1", which the stale update sends).
	var nss []Object
	for _, ns := range []string{"default", "kube-node-lease", "kube-public", "kube-system"} {
		nss = append(nss, s.namespace(ns))
	}
	s.cache.Replace(keyNamespaces, nss, nil)
	// web as the recorder left it: Pending, on no node.
	pod := watchedPod()
	pod.Name, pod.UID = "web", "u1"
	createdBy(t, s, "create web", pod)
	s.cache.Replace(keyPods, []Object{apiPod(pod)}, nil)
	svc := &v1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "u2", CreationTimestamp: metav1.Now()},
		Spec:       v1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []v1.ServicePort{{Port: 80}}}}
	source.SetServiceDefaults(svc)
	// Its address as the agent allocates it.
	alloc, err := services.NewAllocator("10.96.0.0/12", nil, filepath.Join(t.TempDir(), "allocations.json"))
	if err != nil {
		t.Fatal(err)
	}
	allocated, failed, err := alloc.Sync([]*v1.Service{svc})
	if err != nil || len(failed) > 0 || len(allocated) != 1 {
		t.Fatalf("allocate web's ClusterIP: %v %v %v", allocated, failed, err)
	}
	createdBy(t, s, "create service web", allocated[0])
	s.cache.Replace(keyServices, []Object{allocated[0]}, nil)
	d := &appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "u3", CreationTimestamp: metav1.Now(), Generation: 1},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: v1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}}}}}
	source.SetDeploymentDefaults(d)
	createdBy(t, s, "create deployment web", d)
	s.cache.Replace(keyDeployments, []Object{d}, nil)
	return s
}

// createdBy sets obj's managedFields to those of its creation by the
// recorder's request (exchange), from Go's default client as it was.
func createdBy(t *testing.T, s *Server, exchange string, obj Object) {
	t.Helper()
	gvk := obj.GetObjectKind().GroupVersionKind()
	sent, err := s.codec.scheme.New(gvk)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(exchangeByName(t, exchange).body), sent); err != nil {
		t.Fatalf("%s: %v", exchange, err)
	}
	if err := s.fields.track(gvk, nil, sent.(Object), "Go-http-client"); err != nil {
		t.Fatalf("%s: %v", exchange, err)
	}
	obj.SetManagedFields(sent.(Object).GetManagedFields())
}

// ask sends an exchange's request to the agent and returns the status,
// headers and body. Writes that would wait for the agent to take them up
// are not sent: the stage is set in referenceServer instead.
func ask(t *testing.T, s *Server, e exchange) (int, http.Header, []byte) {
	t.Helper()
	r := httptest.NewRequest(e.method, e.path, strings.NewReader(e.body))
	for k, v := range e.header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	if e.anonymous {
		s.Handler().ServeHTTP(w, r)
	} else {
		s.route(w, r)
	}
	return w.Code, w.Header(), w.Body.Bytes()
}

// exchangeNamed finds one of referenceExchanges by golden name.
func exchangeNamed(t *testing.T, golden string) exchange {
	t.Helper()
	return findExchange(t, "records "+golden, func(e exchange) bool { return e.golden == golden })
}

// exchangeByName finds one of referenceExchanges by its name.
func exchangeByName(t *testing.T, name string) exchange {
	t.Helper()
	return findExchange(t, "named "+name, func(e exchange) bool { return e.name == name })
}

func findExchange(t *testing.T, what string, match func(exchange) bool) exchange {
	t.Helper()
	for _, e := range referenceExchanges() {
		if match(e) {
			return e
		}
	}
	t.Fatalf("no exchange %s", what)
	return exchange{}
}

// jsonDiff reports where got and want differ, by JSON path.
func jsonDiff(path string, got, want any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{path + ": got " + jsonString(got) + ", want " + jsonString(want)}
		}
		var out []string
		keys := map[string]bool{}
		for k := range w {
			keys[k] = true
		}
		for k := range g {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		slices.Sort(sorted)
		for _, k := range sorted {
			out = append(out, jsonDiff(path+"."+k, g[k], w[k])...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{path + ": got " + jsonString(got) + ", want " + jsonString(want)}
		}
		var out []string
		for i := range w {
			out = append(out, jsonDiff(path+"["+strconv.Itoa(i)+"]", g[i], w[i])...)
		}
		return out
	}
	if !reflect.DeepEqual(got, want) {
		return []string{path + ": got " + jsonString(got) + ", want " + jsonString(want)}
	}
	return nil
}

func jsonString(v any) string {
	if v == nil {
		return "(absent)"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func reportDiff(t *testing.T, what string, got, want any) {
	t.Helper()
	if d := jsonDiff("", got, want); len(d) > 0 {
		t.Errorf("%s differs from kube-apiserver's:\n  %s", what, strings.Join(d, "\n  "))
	}
}

// Errors are the API server's Status objects, to the letter: kubectl
// prints their message and reason, and reads their details and causes.
func TestReferenceStatus(t *testing.T) {
	s := referenceServer(t)
	n := 0
	for _, e := range referenceExchanges() {
		if !strings.HasPrefix(e.golden, "status-") {
			continue
		}
		n++
		want := golden(t, e.golden)
		code, _, body := ask(t, s, e)
		got := decodeNormalized(t, e.name, body)
		if code != e.code {
			t.Errorf("%s: %s %s = %d, want %d", e.name, e.method, e.path, code, e.code)
		}
		if e.golden == "status-invalid-pod-update" {
			compareSpecDiffs(t, got, want)
		}
		reportDiff(t, e.name+" ("+e.golden+")", got, want)
	}
	if n < 10 {
		t.Errorf("only %d Status goldens compared", n)
	}
}

// compareSpecDiffs compares the unified diffs of the pod specs that end a
// refused pod update's message and cause, and takes them out of both
// Statuses. The API server diffs its internal type, whose JSON has Go's
// field names (RestartPolicy) in another order, the agent v1's
// (restartPolicy): what must match is every changed line, but for the
// case of the name's first letter; the line numbers of the hunks differ.
func compareSpecDiffs(t *testing.T, got, want any) {
	t.Helper()
	changed := func(d string) []string {
		var out []string
		for _, l := range strings.Split(d, "\n") {
			if strings.HasPrefix(l, "-") || strings.HasPrefix(l, "+") {
				if i := strings.Index(l, `"`); i >= 0 && i+1 < len(l) {
					l = l[:i+1] + strings.ToLower(l[i+1:i+2]) + l[i+2:]
				}
				out = append(out, l)
			}
		}
		return out
	}
	cut := func(st any) []string {
		m := st.(map[string]any)
		var diffs []string
		msgs := []map[string]any{m}
		if causes, ok := m["details"].(map[string]any)["causes"].([]any); ok && len(causes) > 0 {
			msgs = append(msgs, causes[0].(map[string]any))
		}
		for _, c := range msgs {
			msg, _ := c["message"].(string)
			head, d, _ := strings.Cut(msg, "\n")
			c["message"] = head
			diffs = append(diffs, strings.Join(changed(d), "\n"))
		}
		return diffs
	}
	g, w := cut(got), cut(want)
	if !slices.Equal(g, w) || len(w) != 2 || w[0] == "" {
		t.Errorf("refused pod update: the changed lines of the spec diffs\n got %q\nwant %q", g, w)
	}
}

// An unknown field is a warning unless the request asks for strict
// validation: kubectl prints the warning as the API server words it.
func TestReferenceFieldWarning(t *testing.T) {
	s := referenceServer(t)
	e := exchangeNamed(t, "warn-unknown-field")
	// A dry run: the recorder's create needs no manifest here, and the
	// warning comes from decoding, before anything is stored.
	e.path += "?dryRun=All"
	code, hdr, body := ask(t, s, e)
	if code != e.code {
		t.Errorf("%s: %d %s", e.name, code, body)
	}
	data, err := json.Marshal(hdr.Values("Warning"))
	if err != nil {
		t.Fatal(err)
	}
	var got any
	_ = json.Unmarshal(data, &got)
	reportDiff(t, "Warning headers", got, golden(t, "warn-unknown-field"))
}

// /version has the API server's fields and announces the served release.
func TestReferenceVersion(t *testing.T) {
	s := referenceServer(t)
	_, _, body := ask(t, s, exchangeNamed(t, "version"))
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	reportDiff(t, "/version", normalizeVersion(v), golden(t, "version"))
}

// discovered is what kubectl reads of one resource or subresource in
// discovery, in either form (the resource lists or aggregated v2).
type discovered struct {
	Singular   string
	Namespaced bool
	Kind       string // group/version/kind of the response
	Verbs      []string
	ShortNames []string
	Categories []string
}

// notServed are the resources and subresources kube-apiserver lists in the
// served group versions that the agent does not serve, on purpose: no
// controller, scheduler or storage of the node has a use for them. A
// resource kube-apiserver adds in a new release fails the test until it
// is served or listed here.
var notServed = map[string]bool{
	// Core kinds of a cluster's control plane and storage.
	"bindings": true, "componentstatuses": true, "limitranges": true, "persistentvolumeclaims": true,
	"persistentvolumeclaims/status": true, "persistentvolumes": true, "persistentvolumes/status": true,
	"podtemplates": true, "replicationcontrollers": true, "replicationcontrollers/scale": true,
	"replicationcontrollers/status": true, "resourcequotas": true, "resourcequotas/status": true,
	"serviceaccounts": true, "serviceaccounts/token": true, "namespaces/finalize": true, "namespaces/status": true,
	"nodes/proxy": true, "nodes/status": true,
	// Pod subresources of the scheduler, the eviction API, the API
	// server's proxy and in-place resize: none has a user here.
	"pods/binding": true, "pods/ephemeralcontainers": true, "pods/eviction": true, "pods/proxy": true, "pods/resize": true,
	"services/proxy": true,
	// apps kinds with no controller here.
	"controllerrevisions": true, "daemonsets": true, "daemonsets/status": true, "statefulsets": true,
	"statefulsets/scale": true, "statefulsets/status": true,
}

// fewerVerbs are the served resources that take fewer verbs than upstream:
// what the agent makes itself (events, endpoints, the node, ReplicaSets,
// the Lease) or what holds the agent's status is read-only, and discovery
// says so honestly. Their verbs must be a subset of upstream's.
var fewerVerbs = map[string]bool{
	"endpoints": true, "events": true, "namespaces": true, "nodes": true, "replicasets": true, "leases": true,
	"endpointslices": true, "pods/status": true, "services/status": true, "deployments/status": true,
	"replicasets/status": true, "replicasets/scale": true,
}

// discoveredList is a group version's resources in the order listed.
type discoveredList struct {
	order  []string
	byName map[string]discovered
}

func (l *discoveredList) add(name string, d discovered) {
	if l.byName == nil {
		l.byName = map[string]discovered{}
	}
	l.order = append(l.order, name)
	l.byName[name] = d
}

// compareDiscovered compares the agent's resources of one group version
// with kube-apiserver's: the same fields, and the same order (kubectl
// resolves a name to the first resource that has it).
func compareDiscovered(t *testing.T, what string, got, want discoveredList) {
	t.Helper()
	var wantOrder []string
	for _, name := range want.order {
		if _, ok := got.byName[name]; ok {
			wantOrder = append(wantOrder, name)
		} else if !notServed[name] {
			t.Errorf("%s: kube-apiserver serves %s, the agent does not (serve it, or list it in notServed)", what, name)
		}
	}
	for _, name := range got.order {
		g := got.byName[name]
		w, ok := want.byName[name]
		if !ok {
			t.Errorf("%s: the agent serves %s, kube-apiserver does not", what, name)
			continue
		}
		if fewerVerbs[name] {
			for _, v := range g.Verbs {
				if !slices.Contains(w.Verbs, v) {
					t.Errorf("%s %s: verb %s is not kube-apiserver's (%v)", what, name, v, w.Verbs)
				}
			}
			g.Verbs, w.Verbs = nil, nil
		}
		reportDiff(t, what+" "+name, toJSONValue(t, g), toJSONValue(t, w))
	}
	if !slices.Equal(got.order, wantOrder) && len(got.order) == len(wantOrder) {
		t.Errorf("%s: the agent lists %v, kube-apiserver %v", what, got.order, wantOrder)
	}
}

// The resource lists of every served group version (/api/v1,
// /apis/apps/v1…), the discovery kubectl falls back to.
func TestReferenceResourceLists(t *testing.T) {
	s := referenceServer(t)
	for _, gv := range groupVersions() {
		e := exchangeNamed(t, discoveryGolden(gvPath(gv.Group, gv.Version)))
		var lists [2]metav1.APIResourceList
		_, _, body := ask(t, s, e)
		want, _ := json.Marshal(golden(t, e.golden))
		for i, data := range [][]byte{body, want} {
			if err := json.Unmarshal(data, &lists[i]); err != nil {
				t.Fatalf("%s: %v", e.path, err)
			}
		}
		if lists[0].GroupVersion != lists[1].GroupVersion || lists[0].Kind != lists[1].Kind || lists[0].APIVersion != lists[1].APIVersion {
			t.Errorf("%s: %s %s %s, want %s %s %s", e.path, lists[0].APIVersion, lists[0].Kind, lists[0].GroupVersion,
				lists[1].APIVersion, lists[1].Kind, lists[1].GroupVersion)
		}
		var got, wanted discoveredList
		for i, dl := range []*discoveredList{&got, &wanted} {
			for _, r := range lists[i].APIResources {
				g, v := r.Group, r.Version
				if v == "" {
					g, v = gv.Group, gv.Version
				}
				// storageVersionHash is left out: kubectl does not read it,
				// and the agent keeps no storage versions.
				dl.add(r.Name, discovered{Singular: r.SingularName, Namespaced: r.Namespaced, Kind: g + "/" + v + "/" + r.Kind,
					Verbs: r.Verbs, ShortNames: r.ShortNames, Categories: r.Categories})
			}
		}
		compareDiscovered(t, e.path, got, wanted)
	}
}

// Aggregated discovery (apidiscovery.k8s.io/v2), which kubectl asks for
// first: the served groups and versions, each resource and subresource.
func TestReferenceAggregatedDiscovery(t *testing.T) {
	s := referenceServer(t)
	for _, name := range []string{"aggregated-api", "aggregated-apis"} {
		e := exchangeNamed(t, name)
		code, hdr, body := ask(t, s, e)
		if code != 200 || hdr.Get("Content-Type") != aggregatedMediaType {
			t.Errorf("%s: %d %s", name, code, hdr.Get("Content-Type"))
		}
		var lists [2]apidiscoveryv2.APIGroupDiscoveryList
		want, _ := json.Marshal(golden(t, name))
		for i, data := range [][]byte{body, want} {
			if err := json.Unmarshal(data, &lists[i]); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		if lists[0].Kind != lists[1].Kind || lists[0].APIVersion != lists[1].APIVersion {
			t.Errorf("%s: %s %s, want %s %s", name, lists[0].APIVersion, lists[0].Kind, lists[1].APIVersion, lists[1].Kind)
		}
		type versions = map[string]discoveredList // group/version →
		var byGV [2]versions
		var groupOrder [2][]string
		for i := range lists {
			byGV[i] = versions{}
			for _, g := range lists[i].Items {
				groupOrder[i] = append(groupOrder[i], g.Name)
				for _, v := range g.Versions {
					var dl discoveredList
					for _, r := range v.Resources {
						kind := func(k *metav1.GroupVersionKind) string {
							if k == nil {
								return ""
							}
							return k.Group + "/" + k.Version + "/" + k.Kind
						}
						dl.add(r.Resource, discovered{Singular: r.SingularResource, Namespaced: r.Scope == apidiscoveryv2.ScopeNamespace,
							Kind: kind(r.ResponseKind), Verbs: r.Verbs, ShortNames: r.ShortNames, Categories: r.Categories})
						for _, sub := range r.Subresources {
							dl.add(r.Resource+"/"+sub.Subresource, discovered{Namespaced: r.Scope == apidiscoveryv2.ScopeNamespace,
								Kind: kind(sub.ResponseKind), Verbs: sub.Verbs})
						}
					}
					byGV[i][g.Name+"/"+v.Version] = dl
				}
			}
		}
		for gv, got := range byGV[0] {
			want, ok := byGV[1][gv]
			if !ok {
				t.Errorf("%s: the agent serves %s, kube-apiserver does not", name, gv)
				continue
			}
			compareDiscovered(t, name+" "+gv, got, want)
		}
		// The groups in kube-apiserver's order: kubectl prefers the first
		// group that has a resource (core events over events.k8s.io's).
		var wantGroups []string
		for _, g := range groupOrder[1] {
			if slices.Contains(groupOrder[0], g) {
				wantGroups = append(wantGroups, g)
			}
		}
		if !slices.Equal(groupOrder[0], wantGroups) {
			t.Errorf("%s: groups %v, kube-apiserver's order %v", name, groupOrder[0], wantGroups)
		}
	}
}

func toJSONValue(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// /api, /apis and /apis/GROUP: the served groups as kube-apiserver lists
// them (and in its order), with their versions.
func TestReferenceGroups(t *testing.T) {
	s := referenceServer(t)
	for _, e := range referenceExchanges() {
		if e.golden != "api" && e.golden != "apis" && !strings.HasPrefix(e.name, "group ") {
			continue
		}
		_, _, body := ask(t, s, e)
		got, want := decodeNormalized(t, e.name, body), golden(t, e.golden)
		if e.golden == "apis" {
			// The groups the agent does not serve are left out (notServed
			// says why of their kinds); the rest must match, in order.
			served := map[string]bool{}
			for _, gv := range groupVersions() {
				served[gv.Group] = true
			}
			w := want.(map[string]any)
			var groups []any
			for _, g := range w["groups"].([]any) {
				if served[g.(map[string]any)["name"].(string)] {
					groups = append(groups, g)
				}
			}
			w["groups"] = groups
		}
		reportDiff(t, e.path, got, want)
	}
}

// Every served resource's Table has kube-apiserver's columns: name, type,
// format, description and priority, in order (kubectl prints the names,
// and -o wide the priority-1 ones); the objects both serve alike have the
// same rows.
func TestReferenceTables(t *testing.T) {
	s := referenceServer(t)
	compared := map[string]int{}
	for _, e := range referenceExchanges() {
		if !strings.HasPrefix(e.golden, "table-") {
			continue
		}
		code, _, body := ask(t, s, e)
		if code != 200 {
			t.Errorf("%s: %d %s", e.path, code, body)
			continue
		}
		got := decodeNormalized(t, e.name, body).(map[string]any)
		want := golden(t, e.golden).(map[string]any)
		for _, k := range []string{"kind", "apiVersion", "columnDefinitions"} {
			reportDiff(t, e.path+" "+k, got[k], want[k])
		}
		// The rows of the objects both have (the ones the recorder made,
		// in the same state, and the namespaces): the same cells, and
		// the same metadata (but for what withoutUnkept leaves out).
		gotRows := map[any]any{}
		for _, r := range asList(got["rows"]) {
			gotRows[asList(r.(map[string]any)["cells"])[0]] = r
		}
		for _, r := range asList(want["rows"]) {
			name := asList(r.(map[string]any)["cells"])[0]
			g, ok := gotRows[name]
			if !ok {
				continue
			}
			compared[e.golden]++
			withoutUnkept(r.(map[string]any)["object"].(map[string]any))
			withoutUnkept(g.(map[string]any)["object"].(map[string]any))
			reportDiff(t, e.path+" row "+name.(string), g, r)
		}
	}
	for _, name := range []string{"table-pods", "table-services", "table-apps-deployments", "table-namespaces"} {
		if compared[name] == 0 {
			t.Errorf("%s: no row compared", name)
		}
	}
}

// watchedPod is the pod the recorder watched, as the agent serves it: the
// recorder's manifest with the defaults the agent applies, Pending.
func watchedPod() *v1.Pod {
	p := &v1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "watched", Namespace: "default", UID: "w", CreationTimestamp: metav1.Now()},
		Spec:       v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox", Command: []string{"sleep", "3600"}}}},
		Status:     v1.PodStatus{Phase: v1.PodPending},
	}
	source.SetPodDefaults(p)
	return p
}

// A watch from a list's resourceVersion sends what kube-apiserver sends
// while a pod is created, labelled, deleted (deletionTimestamp set) and
// gone: the same event types in order, the same objects (but for the
// fields listed below), and as Table rows the same cells, with the column
// definitions in the first event only.
func TestReferenceWatch(t *testing.T) {
	for _, tc := range []struct{ golden, accept string }{{"watch-pods", "application/json"}, {"watch-pods-table", tableAccept}} {
		t.Run(tc.golden, func(t *testing.T) {
			s := referenceServer(t)
			srv := httptest.NewServer(http.HandlerFunc(s.route))
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			list, err := http.Get(srv.URL + "/api/v1/namespaces/default/pods?fieldSelector=metadata.name%3Dwatched")
			if err != nil {
				t.Fatal(err)
			}
			var l metav1.List
			err = json.NewDecoder(list.Body).Decode(&l)
			list.Body.Close()
			if err != nil || l.ResourceVersion == "" {
				t.Fatalf("list: %v %+v", err, l)
			}
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/namespaces/default/pods?watch=true&fieldSelector=metadata.name%3Dwatched&resourceVersion="+l.ResourceVersion, nil)
			req.Header.Set("Accept", tc.accept)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()

			// What the agent's pod feed does as the pod goes through the
			// recorder's steps.
			p := watchedPod()
			s.cache.Put(keyPods, apiPod(p.DeepCopy()), nil)
			p.Labels = map[string]string{"step": "two"}
			s.cache.Put(keyPods, apiPod(p.DeepCopy()), nil)
			now := metav1.Now()
			p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &now, new(int64)
			s.cache.Put(keyPods, apiPod(p.DeepCopy()), nil)
			s.cache.Delete(keyPods, "default", "watched")

			want := golden(t, tc.golden).([]any)
			var got []any
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(nil, 1<<20)
			for len(got) < len(want) && sc.Scan() {
				var e any
				if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
					t.Fatal(err)
				}
				got = append(got, e)
			}
			got = normalizeWatch(got)
			for _, events := range [][]any{got, want} {
				for _, e := range events {
					withoutUnkept(e.(map[string]any)["object"].(map[string]any))
					// The test puts the pod straight into the cache,
					// not through the API's writes, so it has no
					// managedFields (TestReferenceManagedFieldsOnCreate
					// holds the writes' to kube-apiserver's).
					withoutManagedFields(e.(map[string]any)["object"].(map[string]any))
				}
			}
			reportDiff(t, tc.golden, got, want)
		})
	}
}

// withoutUnkept takes out of an object (or a Table's rows) what the agent
// does not keep, on purpose: the managedFields of what kube-apiserver
// writes itself (namespaces, the kubernetes Service), which the agent
// makes without recording a manager. Those of writes through the API are
// kept, and compared.
func withoutUnkept(obj map[string]any) {
	for _, md := range metadatas(obj) {
		for _, m := range asList(md["managedFields"]) {
			if m.(map[string]any)["manager"] == "kube-apiserver" {
				delete(md, "managedFields")
				break
			}
		}
	}
}

// withoutManagedFields takes all managedFields out of obj (or its rows).
func withoutManagedFields(obj map[string]any) {
	for _, md := range metadatas(obj) {
		delete(md, "managedFields")
	}
}

// metadatas are the metadata of obj, or of a Table's row objects.
func metadatas(obj map[string]any) []map[string]any {
	metas := []map[string]any{}
	if md, ok := obj["metadata"].(map[string]any); ok {
		metas = append(metas, md)
	}
	for _, r := range asList(obj["rows"]) {
		if o, ok := r.(map[string]any)["object"].(map[string]any); ok {
			if md, ok := o["metadata"].(map[string]any); ok {
				metas = append(metas, md)
			}
		}
	}
	return metas
}

func asList(v any) []any { l, _ := v.([]any); return l }

// The specs of the objects as created have kube-apiserver's defaults
// (what `kubectl get -o yaml` shows): the agent's source defaults are
// held to them, but for what withoutUnkept leaves out.
func TestReferenceObjectDefaults(t *testing.T) {
	s := referenceServer(t)
	for _, name := range []string{"object-pod", "object-service", "object-deployment"} {
		e := exchangeNamed(t, name)
		code, _, body := ask(t, s, e)
		if code != 200 {
			t.Fatalf("%s: %d %s", e.path, code, body)
		}
		got := decodeNormalized(t, e.name, body).(map[string]any)
		want := golden(t, name).(map[string]any)
		withoutUnkept(got)
		withoutUnkept(want)
		reportDiff(t, e.path+" spec", got["spec"], want["spec"])
	}
}
