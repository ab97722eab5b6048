package kubeapi

import (
	"net/http"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// resourceInfo describes one served resource for discovery, as the API
// server lists it (names, scope, verbs, short names, categories).
type resourceInfo struct {
	gv           schema.GroupVersion
	name         string // plural, the URL segment
	singular     string
	kind         string
	namespaced   bool
	verbs        []string
	shortNames   []string
	categories   []string
	subresources []subresourceInfo
}

type subresourceInfo struct {
	name  string
	gv    *schema.GroupVersion // of the response kind; nil: the resource's
	kind  string               // response kind; "" for streams (logs, exec…)
	verbs []string
}

// scaleSubresource is the scale of Deployments and ReplicaSets: an
// autoscaling/v1 Scale, as the API server serves it.
var scaleSubresource = subresourceInfo{name: "scale", gv: &schema.GroupVersion{Group: "autoscaling", Version: "v1"},
	kind: "Scale", verbs: []string{"get", "patch", "update"}}

var (
	readVerbs  = []string{"get", "list", "watch"}
	writeVerbs = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	coreV1     = schema.GroupVersion{Version: "v1"}
	eventsV1   = schema.GroupVersion{Group: "events.k8s.io", Version: "v1"}
	discV1     = schema.GroupVersion{Group: "discovery.k8s.io", Version: "v1"}
	appsV1     = schema.GroupVersion{Group: "apps", Version: "v1"}
	coordV1    = schema.GroupVersion{Group: "coordination.k8s.io", Version: "v1"}
)

// resources are what this API serves, in the order the API server lists
// them (its groups in its order: apps, events.k8s.io, coordination.k8s.io,
// discovery.k8s.io); the verbs say honestly what works here.
var resources = []resourceInfo{
	{gv: coreV1, name: "configmaps", singular: "configmap", kind: "ConfigMap", namespaced: true, verbs: writeVerbs, shortNames: []string{"cm"}},
	{gv: coreV1, name: "endpoints", singular: "endpoints", kind: "Endpoints", namespaced: true, verbs: readVerbs, shortNames: []string{"ep"}},
	{gv: coreV1, name: "events", singular: "event", kind: "Event", namespaced: true, verbs: readVerbs, shortNames: []string{"ev"}},
	{gv: coreV1, name: "namespaces", singular: "namespace", kind: "Namespace", verbs: readVerbs, shortNames: []string{"ns"}},
	{gv: coreV1, name: "nodes", singular: "node", kind: "Node", verbs: readVerbs, shortNames: []string{"no"}},
	{gv: coreV1, name: "pods", singular: "pod", kind: "Pod", namespaced: true, verbs: writeVerbs, shortNames: []string{"po"}, categories: []string{"all"},
		subresources: []subresourceInfo{
			{name: "attach", verbs: []string{"create", "get"}},
			{name: "exec", verbs: []string{"create", "get"}},
			{name: "log", verbs: []string{"get"}},
			{name: "portforward", verbs: []string{"create", "get"}},
			{name: "status", kind: "Pod", verbs: []string{"get"}},
		}},
	{gv: coreV1, name: "secrets", singular: "secret", kind: "Secret", namespaced: true, verbs: writeVerbs},
	{gv: coreV1, name: "services", singular: "service", kind: "Service", namespaced: true, verbs: writeVerbs, shortNames: []string{"svc"}, categories: []string{"all"},
		subresources: []subresourceInfo{{name: "status", kind: "Service", verbs: []string{"get"}}}},
	{gv: appsV1, name: "deployments", singular: "deployment", kind: "Deployment", namespaced: true, verbs: writeVerbs, shortNames: []string{"deploy"}, categories: []string{"all"},
		subresources: []subresourceInfo{scaleSubresource, {name: "status", kind: "Deployment", verbs: []string{"get"}}}},
	{gv: appsV1, name: "replicasets", singular: "replicaset", kind: "ReplicaSet", namespaced: true, verbs: readVerbs, shortNames: []string{"rs"}, categories: []string{"all"},
		subresources: []subresourceInfo{scaleSubresource, {name: "status", kind: "ReplicaSet", verbs: []string{"get"}}}},
	{gv: eventsV1, name: "events", singular: "event", kind: "Event", namespaced: true, verbs: readVerbs, shortNames: []string{"ev"}},
	{gv: coordV1, name: "leases", singular: "lease", kind: "Lease", namespaced: true, verbs: readVerbs},
	{gv: discV1, name: "endpointslices", singular: "endpointslice", kind: "EndpointSlice", namespaced: true, verbs: readVerbs},
}

// groupVersions are the served group versions, core first.
func groupVersions() []schema.GroupVersion {
	var out []schema.GroupVersion
	for _, r := range resources {
		if len(out) == 0 || out[len(out)-1] != r.gv {
			out = append(out, r.gv)
		}
	}
	return out
}

// lookup finds a served resource by group version and plural name.
func lookup(gv schema.GroupVersion, name string) (*resourceInfo, bool) {
	for i := range resources {
		if resources[i].gv == gv && resources[i].name == name {
			return &resources[i], true
		}
	}
	return nil, false
}

func resourceList(gv schema.GroupVersion) *metav1.APIResourceList {
	list := &metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: gv.String(),
		APIResources: []metav1.APIResource{},
	}
	if gv.Group == "" {
		// The API server leaves the apiVersion out of /api/v1's list (not
		// of the named groups' lists).
		list.APIVersion = ""
	}
	for _, r := range resources {
		if r.gv != gv {
			continue
		}
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name: r.name, SingularName: r.singular, Namespaced: r.namespaced, Kind: r.kind,
			Verbs: r.verbs, ShortNames: r.shortNames, Categories: r.categories,
		})
		for _, s := range r.subresources {
			kind := s.kind
			if kind == "" {
				kind = streamKind(s.name)
			}
			res := metav1.APIResource{Name: r.name + "/" + s.name, Namespaced: r.namespaced, Kind: kind, Verbs: s.verbs}
			if s.gv != nil {
				res.Group, res.Version = s.gv.Group, s.gv.Version
			}
			list.APIResources = append(list.APIResources, res)
		}
	}
	return list
}

// streamKind is the kind the API server names for a streaming subresource.
func streamKind(sub string) string {
	switch sub {
	case "exec":
		return "PodExecOptions"
	case "attach":
		return "PodAttachOptions"
	case "portforward":
		return "PodPortForwardOptions"
	}
	return "Pod"
}

func groupList() *metav1.APIGroupList {
	list := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}, Groups: []metav1.APIGroup{}}
	for _, gv := range groupVersions() {
		if gv.Group == "" {
			continue
		}
		gvd := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
		list.Groups = append(list.Groups, metav1.APIGroup{Name: gv.Group, Versions: []metav1.GroupVersionForDiscovery{gvd}, PreferredVersion: gvd})
	}
	return list
}

// aggregated is the discovery document kubectl asks for first (one request
// for all groups), for the legacy core group (core) or the named groups.
func aggregated(core bool) *apidiscoveryv2.APIGroupDiscoveryList {
	list := &apidiscoveryv2.APIGroupDiscoveryList{
		TypeMeta: metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: "apidiscovery.k8s.io/v2"},
		Items:    []apidiscoveryv2.APIGroupDiscovery{},
	}
	for _, gv := range groupVersions() {
		if (gv.Group == "") != core {
			continue
		}
		v := apidiscoveryv2.APIVersionDiscovery{Version: gv.Version, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
		for _, r := range resources {
			if r.gv != gv {
				continue
			}
			scope := apidiscoveryv2.ScopeCluster
			if r.namespaced {
				scope = apidiscoveryv2.ScopeNamespace
			}
			d := apidiscoveryv2.APIResourceDiscovery{
				Resource: r.name, SingularResource: r.singular, Scope: scope, Verbs: r.verbs,
				ShortNames: r.shortNames, Categories: r.categories,
				// The API server names the group and version of a
				// response kind only when they are not the resource's own.
				ResponseKind: &metav1.GroupVersionKind{Kind: r.kind},
			}
			for _, s := range r.subresources {
				kind := s.kind
				if kind == "" {
					kind = streamKind(s.name)
				}
				rk := &metav1.GroupVersionKind{Kind: kind}
				if s.gv != nil {
					rk.Group, rk.Version = s.gv.Group, s.gv.Version
				}
				d.Subresources = append(d.Subresources, apidiscoveryv2.APISubresourceDiscovery{
					Subresource: s.name, Verbs: s.verbs, ResponseKind: rk,
				})
			}
			v.Resources = append(v.Resources, d)
		}
		list.Items = append(list.Items, apidiscoveryv2.APIGroupDiscovery{
			ObjectMeta: metav1.ObjectMeta{Name: gv.Group},
			Versions:   []apidiscoveryv2.APIVersionDiscovery{v},
		})
	}
	return list
}

// aggregatedMediaType is the media type of aggregated discovery v2.
const aggregatedMediaType = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

// wantsAggregated reports whether the Accept header asks for aggregated
// discovery v2 (kubectl lists it first, then the plain documents).
func wantsAggregated(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		params := map[string]string{}
		for _, p := range strings.Split(part, ";")[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			params[k] = v
		}
		if params["g"] == "apidiscovery.k8s.io" && params["v"] == "v2" && params["as"] == "APIGroupDiscoveryList" {
			return true
		}
	}
	return false
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	if wantsAggregated(r) {
		writeObject(w, http.StatusOK, aggregatedMediaType, aggregated(true))
		return
	}
	writeJSON(w, http.StatusOK, &metav1.APIVersions{
		TypeMeta: metav1.TypeMeta{Kind: "APIVersions"},
		Versions: []string{"v1"},
		ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{
			{ClientCIDR: "0.0.0.0/0", ServerAddress: s.addr},
		},
	})
}

func (s *Server) serveAPIs(w http.ResponseWriter, r *http.Request) {
	if wantsAggregated(r) {
		writeObject(w, http.StatusOK, aggregatedMediaType, aggregated(false))
		return
	}
	writeJSON(w, http.StatusOK, groupList())
}

func (s *Server) serveGroup(w http.ResponseWriter, group string) {
	for _, g := range groupList().Groups {
		if g.Name == group {
			g.TypeMeta = metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}
			writeJSON(w, http.StatusOK, &g)
			return
		}
	}
	writeError(w, notFoundPath())
}

func (s *Server) serveResourceList(w http.ResponseWriter, gv schema.GroupVersion) {
	for _, served := range groupVersions() {
		if served == gv {
			writeJSON(w, http.StatusOK, resourceList(gv))
			return
		}
	}
	writeError(w, notFoundPath())
}
