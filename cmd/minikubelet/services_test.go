package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/minikubelet/minikubelet/api"
	"github.com/minikubelet/minikubelet/events"
	"github.com/minikubelet/minikubelet/status"
)

// fixedServices serves fixed Services and Endpoints.
type fixedServices struct {
	svcs []*v1.Service
	eps  []*v1.Endpoints
}

func (f fixedServices) ListServices(ns string) []*v1.Service {
	var out []*v1.Service
	for _, s := range f.svcs {
		if ns == "" || s.Namespace == ns {
			out = append(out, s.DeepCopy())
		}
	}
	return out
}

func (f fixedServices) GetService(ns, name string) (*v1.Service, bool) {
	for _, s := range f.ListServices(ns) {
		if s.Name == name {
			return s, true
		}
	}
	return nil, false
}

func (f fixedServices) ListEndpoints(ns string) []*v1.Endpoints {
	var out []*v1.Endpoints
	for _, e := range f.eps {
		if ns == "" || e.Namespace == ns {
			out = append(out, e.DeepCopy())
		}
	}
	return out
}

func (f fixedServices) GetEndpoints(ns, name string) (*v1.Endpoints, bool) {
	for _, e := range f.ListEndpoints(ns) {
		if e.Name == name {
			return e, true
		}
	}
	return nil, false
}

func labServiceObjects(age time.Duration) fixedServices {
	created := metav1.NewTime(time.Now().Add(-age))
	single := v1.IPFamilyPolicySingleStack
	mk := func(ns, name, ip string, selector map[string]string, target int32) *v1.Service {
		return &v1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: created},
			Spec: v1.ServiceSpec{
				Type: v1.ServiceTypeClusterIP, Selector: selector, ClusterIP: ip, ClusterIPs: []string{ip},
				IPFamilies: []v1.IPFamily{v1.IPv4Protocol}, IPFamilyPolicy: &single, SessionAffinity: v1.ServiceAffinityNone,
				Ports: []v1.ServicePort{{Port: 80, Protocol: v1.ProtocolTCP, TargetPort: intstr.FromInt32(target)}},
			},
		}
	}
	return fixedServices{
		svcs: []*v1.Service{
			mk("default", "mydb", "10.100.111.80", nil, 9377),
			mk("default", "myservice", "10.107.87.62", map[string]string{"app": "myapp"}, 9376),
			mk("team", "web", "10.100.0.30", map[string]string{"app": "web"}, 8080),
		},
		eps: []*v1.Endpoints{{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "myservice"},
			Subsets: []v1.EndpointSubset{{Addresses: []v1.EndpointAddress{{IP: "10.244.1.60"}},
				Ports: []v1.EndpointPort{{Port: 9376, Protocol: v1.ProtocolTCP}}}},
		}},
	}
}

// serviceCLI runs the client against an API server with the lab's Services.
func serviceCLI(t *testing.T) func(args ...string) result {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "api.sock")
	srv := api.NewServer(zaptest.NewLogger(t), api.Deps{
		Pods: status.NewStore(), Events: events.NewStore(zaptest.NewLogger(t), "node1", 10),
		// Hours, not seconds: on a slow run "7s" became "8s".
		Services: labServiceObjects(3 * time.Hour),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, socket) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("unix", socket); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("server not up")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return func(args ...string) result {
		var out, errOut bytes.Buffer
		getenv := func(k string) string {
			if k == socketEnv {
				return socket
			}
			return ""
		}
		code := run(context.Background(), args, IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, getenv)
		return result{out.String(), errOut.String(), code}
	}
}

func TestGetServices(t *testing.T) {
	cli := serviceCLI(t)
	want := "NAME        TYPE        CLUSTER-IP      EXTERNAL-IP   PORT(S)   AGE\n" +
		"mydb        ClusterIP   10.100.111.80   <none>        80/TCP    3h\n" +
		"myservice   ClusterIP   10.107.87.62    <none>        80/TCP    3h\n"
	for _, args := range [][]string{{"get", "svc"}, {"get", "services"}, {"get", "service"}} {
		if r := cli(args...); r.code != 0 || r.out != want || r.err != "" {
			t.Errorf("%v: code %d\n%s\nstderr %q", args, r.code, r.out, r.err)
		}
	}
	r := cli("get", "svc", "myservice", "-o", "wide")
	if want := "NAME        TYPE        CLUSTER-IP     EXTERNAL-IP   PORT(S)   AGE   SELECTOR\n" +
		"myservice   ClusterIP   10.107.87.62   <none>        80/TCP    3h    app=myapp\n"; r.out != want {
		t.Errorf("-o wide:\n%s\nwant\n%s", r.out, want)
	}
	r = cli("get", "svc", "-A", "--no-headers")
	if !strings.Contains(r.out, "team      web         ClusterIP   10.100.0.30") || strings.Count(r.out, "\n") != 3 {
		t.Errorf("-A:\n%s", r.out)
	}
	r = cli("get", "svc/myservice", "-o", "json")
	var svc v1.Service
	if err := json.Unmarshal([]byte(r.out), &svc); err != nil || svc.Kind != "Service" || svc.Spec.ClusterIP != "10.107.87.62" {
		t.Errorf("-o json: %v\n%s", err, r.out)
	}
	r = cli("get", "svc", "-o", "yaml")
	var list v1.ServiceList
	if err := yaml.Unmarshal([]byte(r.out), &list); err != nil || list.Kind != "List" || len(list.Items) != 2 || list.Items[0].Kind != "Service" {
		t.Errorf("-o yaml: %v\n%s", err, r.out)
	}
	if r = cli("get", "svc", "-o", "name"); r.out != "service/mydb\nservice/myservice\n" {
		t.Errorf("-o name: %q", r.out)
	}
	if r = cli("get", "svc", "nosuch"); r.code != 1 || r.err != "Error from server (NotFound): services \"nosuch\" not found\n" {
		t.Errorf("missing: %+v", r)
	}
	if r = cli("get", "svc", "-n", "empty"); r.code != 0 || r.err != "No resources found in empty namespace.\n" {
		t.Errorf("empty namespace: %+v", r)
	}
}

func TestDescribeServiceCommand(t *testing.T) {
	cli := serviceCLI(t)
	r := cli("describe", "svc", "myservice")
	for _, line := range []string{
		"Name:              myservice\n", "Selector:          app=myapp\n", "IP:                10.107.87.62\n",
		"Port:              <unset>  80/TCP\n", "TargetPort:        9376/TCP\n", "Endpoints:         10.244.1.60:9376\n",
		"Session Affinity:  None\n", "Events:            <none>\n",
	} {
		if !strings.Contains(r.out, line) {
			t.Errorf("describe svc myservice lacks %q:\n%s", line, r.out)
		}
	}
	if r = cli("describe", "service", "mydb"); !strings.Contains(r.out, "Endpoints:         <none>\n") {
		t.Errorf("describe svc mydb:\n%s", r.out)
	}
	// Prefix match, as for pods.
	if r = cli("describe", "svc", "my"); strings.Count(r.out, "Name:") != 2 {
		t.Errorf("describe svc my:\n%s", r.out)
	}
	if r = cli("describe", "svc", "nosuch"); r.code != 1 || !strings.Contains(r.err, `services "nosuch" not found`) {
		t.Errorf("missing: %+v", r)
	}
}
