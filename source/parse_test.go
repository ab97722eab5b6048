package source

import (
	"os"
	"regexp"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

const node = "node-1"

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// parseOne parses a manifest that must hold exactly one valid pod.
func parseOne(t *testing.T, path, manifest string) *v1.Pod {
	t.Helper()
	pods, _, errs := ParseFile(path, []byte(manifest), node)
	if len(errs) > 0 {
		t.Fatalf("unexpected errors: %v", errs)
	}
	if len(pods) != 1 {
		t.Fatalf("got %d pods, want 1", len(pods))
	}
	return pods[0]
}

func errStrings(errs []FileError) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

var uidPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestParseSeedInitContainerPod(t *testing.T) {
	path := "/etc/minikubelet/manifests/init.yml"
	pod := parseOne(t, path, string(readTestdata(t, "myapp-pod.yaml")))

	if pod.Name != "myapp-pod" || pod.Namespace != "default" {
		t.Errorf("name = %s/%s, want default/myapp-pod", pod.Namespace, pod.Name)
	}
	if pod.Labels["app"] != "myapp" {
		t.Errorf("labels = %v", pod.Labels)
	}
	if got := len(pod.Spec.InitContainers); got != 2 {
		t.Fatalf("init containers = %d, want 2", got)
	}
	for i, want := range []string{"init-myservice", "init-mydb"} {
		c := pod.Spec.InitContainers[i]
		if c.Name != want || c.Image != "busybox:latest" || c.ImagePullPolicy != v1.PullAlways || len(c.Command) != 3 {
			t.Errorf("init container %d = %s %s %s %v", i, c.Name, c.Image, c.ImagePullPolicy, c.Command)
		}
	}
	if c := pod.Spec.Containers[0]; c.Name != "myapp-container" || c.ImagePullPolicy != v1.PullAlways {
		t.Errorf("container = %s %s", c.Name, c.ImagePullPolicy)
	}
	if !uidPattern.MatchString(string(pod.UID)) {
		t.Errorf("uid %q is not 32 lowercase hex digits", pod.UID)
	}
	if pod.Spec.NodeName != node {
		t.Errorf("nodeName = %q", pod.Spec.NodeName)
	}
	if pod.Status.Phase != v1.PodPending {
		t.Errorf("phase = %q", pod.Status.Phase)
	}
	wantAnn := map[string]string{
		AnnotationConfigSource: "file",
		AnnotationConfigHash:   string(pod.UID),
		AnnotationManifest:     path,
	}
	for k, v := range wantAnn {
		if pod.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, pod.Annotations[k], v)
		}
	}
	if _, ok := pod.Annotations[AnnotationConfigSeen]; ok {
		t.Errorf("ParseFile must leave %s to the Source", AnnotationConfigSeen)
	}
	if len(pod.Spec.Tolerations) != 1 || pod.Spec.Tolerations[0].Operator != v1.TolerationOpExists ||
		pod.Spec.Tolerations[0].Effect != v1.TaintEffectNoExecute {
		t.Errorf("tolerations = %+v", pod.Spec.Tolerations)
	}
}

func TestParseMultiDocServiceAndPod(t *testing.T) {
	pods, skipped, errs := ParseFile("m.yaml", readTestdata(t, "services-and-pod.yaml"), node)
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	if len(pods) != 1 || pods[0].Name != "web" {
		t.Fatalf("pods = %v", pods)
	}
	if got := pods[0].Spec.Containers[0].ReadinessProbe.HTTPGet; got.Path != "/" || got.Scheme != v1.URISchemeHTTP {
		t.Errorf("httpGet defaults = %+v", got)
	}
	want := []Skipped{
		{File: "m.yaml", APIVersion: "v1", Kind: "Service", Namespace: "default", Name: "myservice"},
		{File: "m.yaml", APIVersion: "v1", Kind: "Service", Namespace: "default", Name: "mydb"},
		{File: "m.yaml", APIVersion: "apps/v1", Kind: "Deployment", Namespace: "default", Name: "deployment-example"},
	}
	if len(skipped) != len(want) {
		t.Fatalf("skipped = %+v", skipped)
	}
	for i := range want {
		if skipped[i] != want[i] {
			t.Errorf("skipped[%d] = %+v, want %+v", i, skipped[i], want[i])
		}
	}
}

func TestParseJSONList(t *testing.T) {
	pods, _, errs := ParseFile("l.json", readTestdata(t, "list.json"), node)
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	if len(pods) != 2 || podKey(pods[0]) != "team-a/one" || podKey(pods[1]) != "default/two" {
		t.Fatalf("pods = %v", pods)
	}
	if pods[0].Spec.Containers[0].ImagePullPolicy != v1.PullIfNotPresent {
		t.Errorf("pull policy = %s", pods[0].Spec.Containers[0].ImagePullPolicy)
	}
}

func TestParseSingleJSONObject(t *testing.T) {
	pod := parseOne(t, "p.json", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"j"},
	"spec":{"containers":[{"name":"c","image":"busybox"}]}}`)
	if pod.Name != "j" {
		t.Errorf("name = %s", pod.Name)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name     string
		path     string
		manifest string
		want     []string
		pods     int
	}{{
		name: "unknown field is named with its path",
		path: "m/p.yaml",
		manifest: `apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: c
    image: busybox
    imagee: typo
`,
		want: []string{`m/p.yaml: strict decoding error: unknown field "spec.containers[0].imagee"`},
	}, {
		name: "decoding is case-sensitive",
		path: "p.yaml",
		manifest: `apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartpolicy: Never
  containers: [{name: c, image: busybox}]
`,
		want: []string{`p.yaml: strict decoding error: unknown field "spec.restartpolicy"`},
	}, {
		name: "duplicate key",
		path: "p.yaml",
		manifest: `apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers: [{name: c, image: busybox}]
  containers: [{name: d, image: busybox}]
`,
		want: []string{`p.yaml: error converting YAML to JSON: yaml: unmarshal errors:
  line 6: key "containers" already set in map`},
	}, {
		name:     "wrong type",
		path:     "p.yaml",
		manifest: "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: {name: c}}\n",
		want:     []string{`p.yaml: json: cannot unmarshal object into Go struct field PodSpec.spec.containers of type []v1.Container`},
	}, {
		name:     "missing kind and apiVersion",
		path:     "p.yaml",
		manifest: "metadata: {name: p}\n",
		want:     []string{`p.yaml: error validating data: [apiVersion not set, kind not set]`},
	}, {
		name:     "pod in another version",
		path:     "p.yaml",
		manifest: "apiVersion: v2\nkind: Pod\nmetadata: {name: p}\n",
		want:     []string{`p.yaml: no matches for kind "Pod" in version "v2"`},
	}, {
		name:     "YAML syntax error in the second document does not hide the first",
		path:     "p.yaml",
		manifest: "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: busybox}]}\n---\nkind: [\n",
		want:     []string{`p.yaml: document 2: error converting YAML to JSON: yaml: line 6: did not find expected node content`},
		pods:     1,
	}, {
		name: "a broken Service does not affect the pod in the same file",
		path: "p.yaml",
		manifest: `apiVersion: v1
kind: Service
metadata: {name: s}
spec: {portz: []}
---
apiVersion: v1
kind: Pod
metadata: {name: p}
spec: {containers: [{name: c, image: busybox}]}
`,
		want: []string{`p.yaml: document 1: strict decoding error: unknown field "spec.portz"`},
		pods: 1,
	}, {
		name: "duplicate pod in one file",
		path: "d.yaml",
		manifest: `apiVersion: v1
kind: Pod
metadata: {name: p}
spec: {containers: [{name: c, image: busybox}]}
---
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: default}
spec: {containers: [{name: c, image: busybox:2}]}
`,
		want: []string{`d.yaml: document 2: duplicate pod "default/p": already defined in d.yaml (document 1)`},
		pods: 1,
	}, {
		name:     "broken JSON",
		path:     "p.json",
		manifest: `{"apiVersion": "v1",}`,
		want:     []string{`p.json: error parsing JSON: invalid character '}' looking for beginning of object key string`},
	}, {
		name:     "a YAML flow mapping is YAML",
		path:     "p.yaml",
		manifest: "{apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: c, image: busybox}]}}\n---\n{apiVersion: v1, kind: Pod, metadata: {name: q}, spec: {containers: [{name: c, image: busybox}]}}\n",
		pods:     2,
	}, {
		name:     "not an object",
		path:     "p.yaml",
		manifest: "- a\n- b\n",
		want:     []string{`p.yaml: not a Kubernetes object: a document must be a mapping`},
	}, {
		name:     "kind of the wrong type",
		path:     "p.yaml",
		manifest: "apiVersion: v1\nkind: 5\n",
		want:     []string{`p.yaml: not a Kubernetes object: kind: expected string, got number`},
	}, {
		name:     "empty documents are ignored",
		path:     "e.yaml",
		manifest: "---\n# nothing\n---\n\n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pods, _, errs := ParseFile(tt.path, []byte(tt.manifest), node)
			got := errStrings(errs)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("errors:\n got %q\nwant %q", got, tt.want)
			}
			if len(pods) != tt.pods {
				t.Errorf("got %d pods, want %d", len(pods), tt.pods)
			}
		})
	}
}

func TestParseFileSizeLimit(t *testing.T) {
	data := []byte("# " + strings.Repeat("x", MaxFileSize))
	_, _, errs := ParseFile("big.yaml", data, node)
	if len(errs) != 1 || errs[0].Error() != "big.yaml: file is larger than the 10485760 byte limit" {
		t.Fatalf("errors = %v", errs)
	}
}

const minimalPod = `apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: web
    image: nginx:1.25
`

// hostNetwork is refused at validation (the agent does not run it), but
// defaulting still fills hostPort like the API server.
func TestDefaultsHostNetworkHostPort(t *testing.T) {
	pod := &v1.Pod{Spec: v1.PodSpec{HostNetwork: true, Containers: []v1.Container{{Name: "c", Image: "i", Ports: []v1.ContainerPort{{ContainerPort: 8080}}}}}}
	SetPodDefaults(pod)
	if got := pod.Spec.Containers[0].Ports[0].HostPort; got != 8080 {
		t.Errorf("hostPort = %d, want 8080", got)
	}
}

func TestDefaults(t *testing.T) {
	pod := parseOne(t, "p.yaml", `apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  volumes:
  - name: scratch
  - name: host
    hostPath: {path: /var/log}
  containers:
  - name: web
    image: nginx:1.25
    ports:
    - containerPort: 8080
    env:
    - name: POD
      valueFrom:
        fieldRef: {fieldPath: metadata.name}
    resources:
      limits: {cpu: 100m, memory: 1Gi}
    livenessProbe:
      httpGet: {port: 8080}
    readinessProbe:
      grpc: {port: 9090}
    startupProbe:
      tcpSocket: {port: 8080}
    lifecycle:
      preStop:
        httpGet: {port: 8080}
`)
	s := pod.Spec
	c := s.Containers[0]
	checks := []struct {
		what      string
		got, want any
	}{
		{"namespace", pod.Namespace, "default"},
		{"restartPolicy", s.RestartPolicy, v1.RestartPolicyAlways},
		{"terminationGracePeriodSeconds", *s.TerminationGracePeriodSeconds, int64(30)},
		{"dnsPolicy", s.DNSPolicy, v1.DNSClusterFirst},
		{"schedulerName", s.SchedulerName, "default-scheduler"},
		{"securityContext", s.SecurityContext != nil, true},
		{"enableServiceLinks", *s.EnableServiceLinks, true},
		{"volume without source", s.Volumes[0].EmptyDir != nil, true},
		{"hostPath type", *s.Volumes[1].HostPath.Type, v1.HostPathUnset},
		{"imagePullPolicy", c.ImagePullPolicy, v1.PullIfNotPresent},
		{"terminationMessagePath", c.TerminationMessagePath, "/dev/termination-log"},
		{"terminationMessagePolicy", c.TerminationMessagePolicy, v1.TerminationMessageReadFile},
		{"port protocol", c.Ports[0].Protocol, v1.ProtocolTCP},
		{"fieldRef apiVersion", c.Env[0].ValueFrom.FieldRef.APIVersion, "v1"},
		{"requests from limits", c.Resources.Requests.Cpu().String() + " " + c.Resources.Requests.Memory().String(), "100m 1Gi"},
		{"periodSeconds", c.LivenessProbe.PeriodSeconds, int32(10)},
		{"timeoutSeconds", c.LivenessProbe.TimeoutSeconds, int32(1)},
		{"successThreshold", c.LivenessProbe.SuccessThreshold, int32(1)},
		{"failureThreshold", c.LivenessProbe.FailureThreshold, int32(3)},
		{"httpGet path", c.LivenessProbe.HTTPGet.Path, "/"},
		{"httpGet scheme", c.LivenessProbe.HTTPGet.Scheme, v1.URISchemeHTTP},
		{"grpc service", *c.ReadinessProbe.GRPC.Service, ""},
		{"startup probe defaulted", c.StartupProbe.FailureThreshold, int32(3)},
		{"lifecycle httpGet path", c.Lifecycle.PreStop.HTTPGet.Path, "/"},
		{"name kept (no node suffix)", pod.Name, "web"},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.what, ck.got, ck.want)
		}
	}
}

func TestDefaultsKeepExplicitValues(t *testing.T) {
	pod := parseOne(t, "p.yaml", `apiVersion: v1
kind: Pod
metadata: {name: web, namespace: team-a}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 0
  dnsPolicy: Default
  containers:
  - name: web
    image: nginx:latest
    imagePullPolicy: Never
    resources:
      requests: {cpu: 50m}
      limits: {cpu: 100m}
    readinessProbe:
      exec: {command: ["true"]}
      periodSeconds: 2
`)
	s := pod.Spec
	c := s.Containers[0]
	if pod.Namespace != "team-a" || s.RestartPolicy != v1.RestartPolicyNever || *s.TerminationGracePeriodSeconds != 0 ||
		s.DNSPolicy != v1.DNSDefault || c.ImagePullPolicy != v1.PullNever || c.ReadinessProbe.PeriodSeconds != 2 ||
		!c.Resources.Requests.Cpu().Equal(resource.MustParse("50m")) {
		t.Errorf("explicit values were overwritten: %+v", pod)
	}
}

func TestImagePullPolicyDefault(t *testing.T) {
	for image, want := range map[string]v1.PullPolicy{
		"busybox":                        v1.PullAlways,
		"busybox:latest":                 v1.PullAlways,
		"busybox:1.36":                   v1.PullIfNotPresent,
		"registry.local:5000/app":        v1.PullAlways,
		"registry.local:5000/app:v1":     v1.PullIfNotPresent,
		"busybox@sha256:" + hex64:        v1.PullIfNotPresent,
		"busybox:latest@sha256:" + hex64: v1.PullAlways,
	} {
		c := v1.Container{Image: image}
		defaultContainer(&c)
		if c.ImagePullPolicy != want {
			t.Errorf("%s: pull policy %s, want %s", image, c.ImagePullPolicy, want)
		}
	}
}

const hex64 = "9d1c242c1fd588a1b8ec4461d33a9ba08071f0cc5bb2d50d4ca49e430014ab06"

func TestUID(t *testing.T) {
	base := parseOne(t, "/m/web.yaml", minimalPod)
	uid := base.UID

	t.Run("same content, file and node give the same UID", func(t *testing.T) {
		// A fresh parse stands for an agent restart: nothing is remembered.
		if again := parseOne(t, "/m/web.yaml", minimalPod); again.UID != uid {
			t.Errorf("uid changed: %s != %s", again.UID, uid)
		}
	})
	t.Run("formatting and explicit defaults do not change the UID", func(t *testing.T) {
		same := "# a comment\napiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: default}\n" +
			"spec:\n  restartPolicy: Always\n  containers: [{name: web, image: 'nginx:1.25', imagePullPolicy: IfNotPresent}]\n"
		if p := parseOne(t, "/m/web.yaml", same); p.UID != uid {
			t.Errorf("uid changed: %s != %s", p.UID, uid)
		}
	})
	for name, c := range map[string]struct{ path, node, manifest string }{
		"image":         {"/m/web.yaml", node, strings.Replace(minimalPod, "nginx:1.25", "nginx:1.26", 1)},
		"label":         {"/m/web.yaml", node, strings.Replace(minimalPod, "name: web\nspec", "name: web\n  labels: {a: b}\nspec", 1)},
		"restartPolicy": {"/m/web.yaml", node, strings.Replace(minimalPod, "spec:\n", "spec:\n  restartPolicy: Never\n", 1)},
		"file":          {"/m/other.yaml", node, minimalPod},
		"node":          {"/m/web.yaml", "node-2", minimalPod},
	} {
		t.Run(name+" changes the UID", func(t *testing.T) {
			pods, _, errs := ParseFile(c.path, []byte(c.manifest), c.node)
			if len(errs) > 0 || len(pods) != 1 {
				t.Fatalf("parse: %v", errs)
			}
			if pods[0].UID == uid {
				t.Errorf("uid did not change")
			}
		})
	}
	t.Run("an explicit UID is hashed with the rest", func(t *testing.T) {
		withUID := strings.Replace(minimalPod, "name: web\n", "name: web\n  uid: my-own-uid\n", 1)
		p := parseOne(t, "/m/web.yaml", withUID)
		if !uidPattern.MatchString(string(p.UID)) || p.UID == uid || p.Annotations[AnnotationConfigHash] != string(p.UID) {
			t.Errorf("uid = %s", p.UID)
		}
		// An edit changes it, whatever metadata.uid says.
		edited := parseOne(t, "/m/web.yaml", strings.Replace(withUID, "nginx:1.25", "nginx:1.26", 1))
		if edited.UID == p.UID {
			t.Errorf("an edit kept the uid %s", p.UID)
		}
		// A path in metadata.uid never becomes the UID.
		evil := parseOne(t, "/m/web.yaml", strings.Replace(minimalPod, "name: web\n", "name: web\n  uid: ../../../etc\n", 1))
		if !uidPattern.MatchString(string(evil.UID)) {
			t.Errorf("uid = %s", evil.UID)
		}
	})
	t.Run("golden", func(t *testing.T) {
		// Pinned so that an accidental change of the hash input (which
		// would restart every pod after an upgrade) is noticed.
		const want = "b196a8a541f2312baa3cb3a6bddc0de0"
		if string(uid) != want {
			t.Errorf("uid = %s, want %s", uid, want)
		}
	})
}

func TestIsManifestName(t *testing.T) {
	for name, want := range map[string]bool{
		"pod.yaml": true, "pod.yml": true, "pod.json": true, "POD.YAML": true,
		".pod.yaml": false, "pod.yaml~": false, ".pod.yaml.swp": false, "pod.yaml.swp": false,
		"#pod.yaml#": false, ".#pod.yaml": false, "pod.txt": false, "pod": false, "4913": false,
		".tmp-pod.yaml-123": false,
	} {
		if got := isManifestName(name); got != want {
			t.Errorf("isManifestName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestSplitYAML(t *testing.T) {
	data := "a: 1\n---\nb: 2\n--- # c\nc: 3\n---x: 4\n--- {d: 5}\n"
	segs := splitYAML([]byte(data))
	var docs []string
	for _, s := range segs {
		docs = append(docs, data[s.body:s.end])
	}
	want := []string{"a: 1\n", "b: 2\n", "c: 3\n---x: 4\n", " {d: 5}\n"}
	if strings.Join(docs, "|") != strings.Join(want, "|") {
		t.Errorf("docs = %q, want %q", docs, want)
	}
}

// ParseFile is Parse for tests that look only at pods: Services are
// reported among the skipped objects, in file order.
func ParseFile(path string, data []byte, nodeName string) ([]*v1.Pod, []Skipped, []FileError) {
	o := parse(path, data, nodeName, true)
	return o.Pods, o.Skipped, o.Errors
}
