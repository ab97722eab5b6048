package kubeapi

import (
	"fmt"
	"strings"
)

// exchange is one request the reference recorder sends to kube-apiserver
// and the comparing tests send to the agent, and the golden file its
// answer goes to ("" for a request that only sets the stage).
type exchange struct {
	name      string
	golden    string
	method    string
	path      string
	body      string
	header    map[string]string
	code      int  // the status expected of kube-apiserver
	anonymous bool // sent without a client certificate
	warnings  bool // the golden is the Warning headers (a list), not the body
}

// The Accept headers kubectl sends: for discovery (aggregated first) and
// for `kubectl get` (a Table, else the object).
const (
	aggregatedAccept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
	tableAccept      = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
)

var jsonBody = map[string]string{"Content-Type": "application/json"}

// podJSON is a pod with one busybox container; extra is spliced into the
// container (`"bogus": 1`, `"image": ""`).
func podJSON(name, extra string) string {
	c := `"name": "c", "image": "busybox", "command": ["sleep", "3600"]`
	if extra != "" {
		c += ", " + extra
	}
	return fmt.Sprintf(`{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": %q, "namespace": "default"}, "spec": {"containers": [{%s}]}}`, name, c)
}

// discoveryGolden names the golden of a group version's resource list:
// api-v1, apis-apps-v1, apis-discovery.k8s.io-v1…
func discoveryGolden(path string) string {
	return strings.ReplaceAll(strings.Trim(path, "/"), "/", "-")
}

// gvPath is the discovery path of a served group version.
func gvPath(group, version string) string {
	if group == "" {
		return "/api/" + version
	}
	return "/apis/" + group + "/" + version
}

// tableGolden names the golden of a resource's Table: table-pods,
// table-apps-deployments…
func tableGolden(r *resourceInfo) string {
	if r.gv.Group == "" {
		return "table-" + r.name
	}
	return "table-" + r.gv.Group + "-" + r.name
}

// tablePath lists a resource in default (or the cluster, for cluster-scoped
// ones).
func tablePath(r *resourceInfo) string {
	p := gvPath(r.gv.Group, r.gv.Version)
	if r.namespaced {
		p += "/namespaces/default"
	}
	return p + "/" + r.name
}

// referenceExchanges are the requests, in order: discovery; the objects
// the errors need (pod web, service web, deployment web); the errors;
// each served resource's Table.
func referenceExchanges() []exchange {
	ex := []exchange{
		{name: "version", golden: "version", method: "GET", path: "/version", code: 200},
		{name: "api", golden: "api", method: "GET", path: "/api", code: 200},
		{name: "apis", golden: "apis", method: "GET", path: "/apis", code: 200},
		{name: "aggregated api", golden: "aggregated-api", method: "GET", path: "/api", header: map[string]string{"Accept": aggregatedAccept}, code: 200},
		{name: "aggregated apis", golden: "aggregated-apis", method: "GET", path: "/apis", header: map[string]string{"Accept": aggregatedAccept}, code: 200},
	}
	for _, gv := range groupVersions() {
		p := gvPath(gv.Group, gv.Version)
		ex = append(ex, exchange{name: "resources " + gv.String(), golden: discoveryGolden(p), method: "GET", path: p, code: 200})
		if gv.Group != "" {
			ex = append(ex, exchange{name: "group " + gv.Group, golden: discoveryGolden("/apis/" + gv.Group), method: "GET", path: "/apis/" + gv.Group, code: 200})
		}
	}
	pods := "/api/v1/namespaces/default/pods"
	ex = append(ex,
		exchange{name: "unknown resource", golden: "status-not-found-path", method: "GET", path: "/api/v1/nosuch", code: 404},
		exchange{name: "no client certificate", golden: "status-unauthorized", method: "GET", path: pods, anonymous: true, code: 401},

		exchange{name: "create web", method: "POST", path: pods, body: podJSON("web", ""), header: jsonBody, code: 201},
		exchange{name: "create web again", golden: "status-already-exists", method: "POST", path: pods, body: podJSON("web", ""), header: jsonBody, code: 409},
		exchange{name: "get nope", golden: "status-not-found", method: "GET", path: pods + "/nope", code: 404},
		exchange{name: "delete nope", golden: "status-not-found-delete", method: "DELETE", path: pods + "/nope", code: 404},
		exchange{name: "get deployment nope", golden: "status-not-found-deployment", method: "GET", path: "/apis/apps/v1/namespaces/default/deployments/nope", code: 404},
		exchange{name: "create without image", golden: "status-invalid-image", method: "POST", path: pods, body: podJSON("bad", `"image": ""`), header: jsonBody, code: 422},
		exchange{name: "create with a bad name", golden: "status-invalid-name", method: "POST", path: pods, body: podJSON("Bad_Name", ""), header: jsonBody, code: 422},
		exchange{name: "create with a bad restart policy", golden: "status-invalid-restart-policy", method: "POST", path: pods,
			body: strings.Replace(podJSON("bad", ""), `"spec": {`, `"spec": {"restartPolicy": "Sometimes", `, 1), header: jsonBody, code: 422},
		exchange{name: "create with an unknown field, strict", golden: "status-strict-unknown-field", method: "POST", path: pods + "?fieldValidation=Strict",
			body: podJSON("unknown", `"bogus": 1`), header: jsonBody, code: 400},
		exchange{name: "create with an unknown field, warn", golden: "warn-unknown-field", method: "POST", path: pods,
			body: podJSON("unknown", `"bogus": 1`), header: jsonBody, code: 201, warnings: true},
		// A stale resourceVersion: the pod has changed since "1".
		exchange{name: "stale update", golden: "status-conflict", method: "PUT", path: pods + "/web",
			body:   strings.Replace(podJSON("web", ""), `"namespace": "default"`, `"namespace": "default", "resourceVersion": "1", "labels": {"a": "b"}`, 1),
			header: jsonBody, code: 409},
		exchange{name: "forbidden pod update", golden: "status-invalid-pod-update", method: "PATCH", path: pods + "/web",
			body: `{"spec":{"restartPolicy":"Never"}}`, header: map[string]string{"Content-Type": "application/strategic-merge-patch+json"}, code: 422},
		exchange{name: "create service web", method: "POST", path: "/api/v1/namespaces/default/services",
			body:   `{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}`,
			header: jsonBody, code: 201},
		exchange{name: "create deployment web", method: "POST", path: "/apis/apps/v1/namespaces/default/deployments",
			body: `{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": "web"}},
				"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}`,
			header: jsonBody, code: 201},
	)
	// The objects as created: the API server's defaults of their specs.
	for _, o := range []struct{ golden, path string }{{"object-pod", pods + "/web"},
		{"object-service", "/api/v1/namespaces/default/services/web"}, {"object-deployment", "/apis/apps/v1/namespaces/default/deployments/web"}} {
		ex = append(ex, exchange{name: "get " + o.golden, golden: o.golden, method: "GET", path: o.path, code: 200})
	}
	for i := range resources {
		r := &resources[i]
		ex = append(ex, exchange{name: "table " + r.name, golden: tableGolden(r), method: "GET", path: tablePath(r),
			header: map[string]string{"Accept": tableAccept}, code: 200})
	}
	return ex
}

// kubectlStep is one kubectl command and what it printed: the golden
// kubectl.json is their list, replayed in order against the agent by
// agent/kubectl_reference_integration_test.go.
type kubectlStep struct {
	Args   []string `json:"args"`
	Stdin  string   `json:"stdin,omitempty"`
	Stdout string   `json:"stdout"`
	Stderr string   `json:"stderr"`
	Exit   int      `json:"exit"`
}

// admittedPath prints a pod's generation and what admission sets.
const admittedPath = "{.metadata.generation} {.spec.priority} {.spec.preemptionPolicy} {.spec.tolerations}"

// referenceKubectlSteps are the kubectl commands whose output is recorded
// (kubectl.json) and compared with the agent's, in order.
func referenceKubectlSteps() []kubectlStep {
	pod := func(name, extra string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name + "\nspec:\n  containers:\n  - name: c\n    image: busybox\n    command: [sleep, '3600']\n" + extra
	}
	return []kubectlStep{
		{Args: []string{"get", "pod", "nope"}},
		{Args: []string{"get", "svc", "nope"}},
		{Args: []string{"get", "deploy", "nope"}},
		{Args: []string{"delete", "pod", "nope"}},
		{Args: []string{"get", "pods", "-n", "nope"}},
		{Args: []string{"create", "-f", "-"}, Stdin: pod("twice", "")},
		{Args: []string{"create", "-f", "-"}, Stdin: pod("twice", "")},
		{Args: []string{"apply", "-f", "-"}, Stdin: pod("strict", "    bogus: 1\n")},
		{Args: []string{"create", "-f", "-"}, Stdin: strings.Replace(pod("noimage", ""), "image: busybox", "image: ''", 1)},
		{Args: []string{"apply", "-f", "-"}, Stdin: pod("applied", "")},
		{Args: []string{"apply", "-f", "-"}, Stdin: pod("applied", "")},
		// What admission adds (priority, the not-ready and unreachable
		// tolerations), and the generation an update of the spec bumps:
		// a patch that drops the tolerations (admission adds them again)
		// and changes the image.
		{Args: []string{"get", "pod", "applied", "-o", "jsonpath=" + admittedPath}},
		{Args: []string{"patch", "pod", "applied", "-p", `{"spec":{"tolerations":null,"containers":[{"name":"c","image":"busybox:1.36"}]}}`}},
		{Args: []string{"get", "pod", "applied", "-o", "jsonpath=" + admittedPath}},
		{Args: []string{"get", "pod", "twice", "-o", "name"}},
		{Args: []string{"label", "pod", "twice", "step=two"}},
		// A stale resourceVersion: twice has changed since "1".
		{Args: []string{"replace", "-f", "-"}, Stdin: strings.Replace(pod("twice", ""), "name: twice\n", "name: twice\n  resourceVersion: '1'\n", 1)},
		{Args: []string{"delete", "pod", "twice", "applied", "--now"}},
	}
}
