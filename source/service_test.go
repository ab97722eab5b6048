package source

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func serviceNames(u Update) []string {
	var names []string
	for _, s := range u.Services {
		names = append(names, serviceKey(s))
	}
	return names
}

// parseServices parses a manifest that must hold only valid objects.
func parseServices(t *testing.T, path, manifest string) []*v1.Service {
	t.Helper()
	objs := Parse(path, []byte(manifest), node)
	if len(objs.Errors) > 0 {
		t.Fatalf("unexpected errors: %v", errStrings(objs.Errors))
	}
	return objs.Services
}

func TestParseLabServices(t *testing.T) {
	objs := Parse("m.yaml", readTestdata(t, "services-and-pod.yaml"), node)
	if len(objs.Errors) > 0 {
		t.Fatalf("errors: %v", errStrings(objs.Errors))
	}
	if len(objs.Pods) != 1 || objs.Pods[0].Name != "web" {
		t.Errorf("pods = %v", objs.Pods)
	}
	if len(objs.Skipped) != 0 {
		t.Errorf("skipped = %+v, want none", objs.Skipped)
	}
	if len(objs.Deployments) != 1 {
		t.Errorf("deployments = %v, want the Deployment", objs.Deployments)
	}
	if len(objs.Services) != 2 {
		t.Fatalf("services = %v", objs.Services)
	}
	svc := objs.Services[0]
	if svc.Name != "myservice" || svc.Namespace != "default" || svc.Kind != "Service" || svc.APIVersion != "v1" {
		t.Errorf("service = %s/%s %s %s", svc.Namespace, svc.Name, svc.APIVersion, svc.Kind)
	}
	// SetDefaults_Service
	if svc.Spec.Type != v1.ServiceTypeClusterIP || svc.Spec.SessionAffinity != v1.ServiceAffinityNone ||
		svc.Spec.SessionAffinityConfig != nil {
		t.Errorf("defaults: type %q, sessionAffinity %q %v", svc.Spec.Type, svc.Spec.SessionAffinity, svc.Spec.SessionAffinityConfig)
	}
	if p := svc.Spec.InternalTrafficPolicy; p == nil || *p != v1.ServiceInternalTrafficPolicyCluster {
		t.Errorf("internalTrafficPolicy = %v", p)
	}
	if svc.Spec.ExternalTrafficPolicy != "" {
		t.Errorf("externalTrafficPolicy = %q for a ClusterIP service", svc.Spec.ExternalTrafficPolicy)
	}
	if p := svc.Spec.Ports[0]; p.Protocol != v1.ProtocolTCP || p.Port != 80 || p.TargetPort != intstr.FromInt32(9376) {
		t.Errorf("port = %+v", p)
	}
	// Addresses are the services package's to allocate.
	if svc.Spec.ClusterIP != "" || len(svc.Spec.ClusterIPs) != 0 || len(svc.Spec.IPFamilies) != 0 {
		t.Errorf("address fields set by the source: %q %v %v", svc.Spec.ClusterIP, svc.Spec.ClusterIPs, svc.Spec.IPFamilies)
	}
	if !uidPattern.MatchString(string(svc.UID)) || svc.UID == objs.Services[1].UID {
		t.Errorf("uids %q %q", svc.UID, objs.Services[1].UID)
	}
}

// ParseFile keeps its pod-only view: Services are listed as skipped, in
// file order.
func TestParseFileListsServicesAsSkipped(t *testing.T) {
	pods, skipped, errs := ParseFile("m.yaml", readTestdata(t, "services-and-pod.yaml"), node)
	if len(errs) > 0 || len(pods) != 1 {
		t.Fatalf("pods %v errors %v", pods, errs)
	}
	var got []string
	for _, s := range skipped {
		got = append(got, s.Kind+"/"+s.Name)
	}
	if want := []string{"Service/myservice", "Service/mydb", "Deployment/deployment-example"}; !slices.Equal(got, want) {
		t.Errorf("skipped = %v, want %v", got, want)
	}
}

func TestServiceDefaults(t *testing.T) {
	svcs := parseServices(t, "s.yaml", `apiVersion: v1
kind: Service
metadata: {name: web, namespace: team-a}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
  - {name: dns, port: 53, protocol: UDP}
  - {name: zero, port: 8080, targetPort: 0}
`)
	s := svcs[0]
	if s.Namespace != "team-a" {
		t.Errorf("namespace = %q", s.Namespace)
	}
	want := []v1.ServicePort{
		{Name: "http", Protocol: v1.ProtocolTCP, Port: 80, TargetPort: intstr.FromString("http")},
		{Name: "dns", Protocol: v1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(53)},
		{Name: "zero", Protocol: v1.ProtocolTCP, Port: 8080, TargetPort: intstr.FromInt32(8080)},
	}
	if !slices.Equal(s.Spec.Ports, want) {
		t.Errorf("ports = %+v\nwant %+v", s.Spec.Ports, want)
	}
	SetServiceDefaults(s) // idempotent
	if !slices.Equal(s.Spec.Ports, want) {
		t.Errorf("second defaulting changed ports: %+v", s.Spec.Ports)
	}
}

func TestHeadlessServiceNeedsNoPorts(t *testing.T) {
	svcs := parseServices(t, "h.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: h}\nspec: {clusterIP: None, selector: {app: h}}\n")
	if len(svcs) != 1 || svcs[0].Spec.ClusterIP != v1.ClusterIPNone {
		t.Fatalf("services = %+v", svcs)
	}
}

// A Service's UID names it: editing it (or moving it to another file)
// keeps the UID, so its ClusterIP stays.
func TestServiceUIDIgnoresContent(t *testing.T) {
	a := parseServices(t, "/m/a.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}]}\n")[0]
	b := parseServices(t, "/m/b.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 81}]}\n")[0]
	c := parseServices(t, "/m/a.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: other}\nspec: {ports: [{port: 80}]}\n")[0]
	if a.UID != b.UID {
		t.Errorf("uid changed with the content: %s %s", a.UID, b.UID)
	}
	if a.UID == c.UID {
		t.Errorf("services in two namespaces share uid %s", a.UID)
	}
	if objectHash(a) == objectHash(b) {
		t.Error("content hash does not see the port change")
	}
}

func TestServiceValidation(t *testing.T) {
	tests := []struct {
		name     string
		manifest string
		want     []string
	}{{
		name:     "no ports",
		manifest: "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {selector: {app: a}}\n",
		want:     []string{`f.yaml: Service "s" is invalid: spec.ports: Required value`},
	}, {
		name:     "name must be a DNS-1035 label",
		manifest: "apiVersion: v1\nkind: Service\nmetadata: {name: 1web}\nspec: {ports: [{port: 80}]}\n",
		want:     []string{`f.yaml: Service "1web" is invalid: metadata.name: Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')`},
	}, {
		name: "port checks",
		manifest: `apiVersion: v1
kind: Service
metadata: {name: s}
spec:
  ports:
  - {port: 0, protocol: ICMP, targetPort: 70000}
  - {name: a, port: 80, targetPort: Not_A_Name}
`,
		want: []string{
			`f.yaml: Service "s" is invalid: spec.ports[0].name: Required value`,
			`f.yaml: Service "s" is invalid: spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive`,
			`f.yaml: Service "s" is invalid: spec.ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"`,
			`f.yaml: Service "s" is invalid: spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive`,
			`f.yaml: Service "s" is invalid: spec.ports[1].targetPort: Invalid value: "Not_A_Name": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)`,
		},
	}, {
		name: "duplicate port names and ports",
		manifest: `apiVersion: v1
kind: Service
metadata: {name: s}
spec:
  ports:
  - {name: a, port: 80}
  - {name: a, port: 80}
`,
		want: []string{
			`f.yaml: Service "s" is invalid: spec.ports[1].name: Duplicate value: "a"`,
			`f.yaml: Service "s" is invalid: spec.ports[1]: Duplicate value: "80/TCP"`,
		},
	}, {
		name:     "other service types are refused",
		manifest: "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {type: NodePort, ports: [{port: 80}]}\n",
		want:     []string{`f.yaml: Service "s" is invalid: spec.type: Invalid value: "NodePort": minikubelet runs only ClusterIP services (headless ones included)`},
	}, {
		name:     "bad cluster IP",
		manifest: "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {clusterIP: 10.96.0.300, ports: [{port: 80}]}\n",
		want:     []string{`f.yaml: Service "s" is invalid: spec.clusterIP: Invalid value: "10.96.0.300": must be empty, 'None', or a valid IP address`},
	}, {
		name:     "IPv6 cluster IP",
		manifest: "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {clusterIP: 'fd00::1', ports: [{port: 80}]}\n",
		want:     []string{`f.yaml: Service "s" is invalid: spec.clusterIP: Invalid value: "fd00::1": minikubelet runs IPv4 single-stack services only`},
	}, {
		name:     "session affinity ClientIP",
		manifest: "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {sessionAffinity: ClientIP, ports: [{port: 80}]}\n",
		want:     []string{`f.yaml: Service "s" is invalid: spec.sessionAffinity: Invalid value: "ClientIP": ClientIP session affinity is not supported by minikubelet`},
	}, {
		name:     "bad selector",
		manifest: "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {selector: {'a b': c}, ports: [{port: 80}]}\n",
		want:     []string{`f.yaml: Service "s" is invalid: spec.selector: Invalid value: "a b": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`},
	}, {
		name:     "unknown field",
		manifest: "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80, targetport: 81}]}\n",
		want:     []string{`f.yaml: strict decoding error: unknown field "spec.ports[0].targetport"`},
	}, {
		name:     "another version",
		manifest: "apiVersion: v2\nkind: Service\nmetadata: {name: s}\n",
		want:     []string{`f.yaml: no matches for kind "Service" in version "v2"`},
	}, {
		name: "duplicate service in one file",
		manifest: `apiVersion: v1
kind: Service
metadata: {name: s}
spec: {ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: s, namespace: default}
spec: {ports: [{port: 81}]}
`,
		want: []string{`f.yaml: document 2: duplicate service "default/s": already defined in f.yaml (document 1)`},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := Parse("f.yaml", []byte(tt.manifest), node)
			got := errStrings(objs.Errors)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("errors:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestServiceFieldErrorIsReachable(t *testing.T) {
	objs := Parse("f.yaml", []byte("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {}\n"), node)
	if len(objs.Errors) != 1 {
		t.Fatalf("errors = %v", objs.Errors)
	}
	var fe *field.Error
	if !errors.As(objs.Errors[0], &fe) || fe.Field != "spec.ports" {
		t.Errorf("errors.As field.Error: %v", fe)
	}
}

func TestSourceDeliversServices(t *testing.T) {
	dir := t.TempDir()
	h := startSource(t, Config{Dir: dir, NodeName: node, Rescan: time.Hour})
	h.waitFor("the first snapshot", func(Update) bool { return true })
	hasServices := func(keys ...string) func(Update) bool {
		return func(u Update) bool { return slices.Equal(serviceNames(u), keys) }
	}

	h.write("service.yml", string(readTestdata(t, "services-and-pod.yaml")))
	u := h.waitFor("two services", hasServices("default/mydb", "default/myservice"))
	first := u.Services[1]
	if first.CreationTimestamp.IsZero() {
		t.Error("creationTimestamp not set")
	}

	// An edit keeps the UID and the first-seen time, and is sent.
	h.write("service.yml", strings.Replace(string(readTestdata(t, "services-and-pod.yaml")), "9376", "9400", 1))
	u = h.waitFor("the edited service", func(u Update) bool {
		s := findService(u, "default/myservice")
		return s != nil && s.Spec.Ports[0].TargetPort.IntValue() == 9400
	})
	edited := findService(u, "default/myservice")
	if edited.UID != first.UID || !edited.CreationTimestamp.Equal(&first.CreationTimestamp) {
		t.Errorf("edit changed uid %s→%s or creation %v→%v", first.UID, edited.UID, first.CreationTimestamp, edited.CreationTimestamp)
	}

	// The same Service in a second file is a duplicate; the first file wins.
	h.write("z.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: mydb}\nspec: {ports: [{port: 1}]}\n")
	u = h.waitFor("the duplicate error", func(u Update) bool { return len(u.Errors) == 1 })
	if want := filepath.Join(dir, "z.yaml") + `: duplicate service "default/mydb": already defined in ` + filepath.Join(dir, "service.yml"); u.Errors[0].Error() != want {
		t.Errorf("error = %q, want %q", u.Errors[0].Error(), want)
	}
	if s := findService(u, "default/mydb"); s == nil || s.Spec.Ports[0].Port != 80 {
		t.Errorf("mydb = %+v", s)
	}

	for _, name := range []string{"service.yml", "z.yaml"} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	h.waitFor("no services", hasServices())
}

func findService(u Update, key string) *v1.Service {
	for _, s := range u.Services {
		if serviceKey(s) == key {
			return s
		}
	}
	return nil
}

func TestApplyValidatesServices(t *testing.T) {
	dir := t.TempDir()
	_, err := Apply(context.Background(), dir, "svc.yaml", []byte("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {type: LoadBalancer, ports: [{port: 80}]}\n"), node)
	if err == nil || !strings.Contains(err.Error(), `svc.yaml: Service "s" is invalid: spec.type: Invalid value: "LoadBalancer"`) {
		t.Fatalf("Apply error = %v", err)
	}
	if files := readDir(t, dir); len(files) != 0 {
		t.Errorf("files written: %v", files)
	}
	got := mustApply(t, dir, "svc.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}]}\n")
	if !slices.Equal(got, []string{"service/s created"}) {
		t.Errorf("lines = %q", got)
	}
}
