package printers

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var updateGolden = flag.Bool("update-services", false, "rewrite the services golden files")

func goldenFile(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// labService is the lab's myservice after step 3, as the agent publishes
// it: defaulted, with its ClusterIP.
func labService() *v1.Service {
	single := v1.IPFamilyPolicySingleStack
	cluster := v1.ServiceInternalTrafficPolicyCluster
	return &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "myservice", Namespace: "default", CreationTimestamp: at("11:59:53")},
		Spec: v1.ServiceSpec{
			Type:                  v1.ServiceTypeClusterIP,
			Selector:              map[string]string{"app": "myapp"},
			ClusterIP:             "10.100.34.244",
			ClusterIPs:            []string{"10.100.34.244"},
			IPFamilies:            []v1.IPFamily{v1.IPv4Protocol},
			IPFamilyPolicy:        &single,
			InternalTrafficPolicy: &cluster,
			SessionAffinity:       v1.ServiceAffinityNone,
			Ports:                 []v1.ServicePort{{Protocol: v1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(9376)}},
		},
	}
}

func TestServiceTable(t *testing.T) {
	now := at("12:00:00").Time
	mydb := labService()
	mydb.Name, mydb.Spec.Selector = "mydb", nil
	mydb.Spec.ClusterIP, mydb.Spec.ClusterIPs = "10.100.111.80", []string{"10.100.111.80"}
	mydb.CreationTimestamp = at("11:00:00")
	web := labService()
	web.Name, web.Namespace = "web", "team"
	web.Spec.Selector = map[string]string{"app": "web", "tier": "front"}
	web.Spec.Ports = []v1.ServicePort{{Name: "http", Port: 80, Protocol: v1.ProtocolTCP}, {Name: "dns", Port: 53, Protocol: v1.ProtocolUDP}}
	headless := labService()
	headless.Name, headless.Spec.ClusterIP, headless.Spec.ClusterIPs, headless.Spec.Ports = "db", "None", []string{"None"}, nil
	svcs := []*v1.Service{headless, mydb, labService(), web}

	var out bytes.Buffer
	if err := PrintServices(&out, svcs, Options{Now: now}); err != nil {
		t.Fatal(err)
	}
	want := `NAME        TYPE        CLUSTER-IP      EXTERNAL-IP   PORT(S)         AGE
db          ClusterIP   None            <none>        <none>          7s
mydb        ClusterIP   10.100.111.80   <none>        80/TCP          60m
myservice   ClusterIP   10.100.34.244   <none>        80/TCP          7s
web         ClusterIP   10.100.34.244   <none>        80/TCP,53/UDP   7s
`
	if out.String() != want {
		t.Errorf("table:\n%s\nwant\n%s", out.String(), want)
	}

	out.Reset()
	if err := PrintServices(&out, svcs[2:], Options{Now: now, Wide: true, WithNamespace: true}); err != nil {
		t.Fatal(err)
	}
	want = `NAMESPACE   NAME        TYPE        CLUSTER-IP      EXTERNAL-IP   PORT(S)         AGE   SELECTOR
default     myservice   ClusterIP   10.100.34.244   <none>        80/TCP          7s    app=myapp
team        web         ClusterIP   10.100.34.244   <none>        80/TCP,53/UDP   7s    app=web,tier=front
`
	if out.String() != want {
		t.Errorf("wide table:\n%s\nwant\n%s", out.String(), want)
	}

	out.Reset()
	if err := PrintServices(&out, nil, Options{}); err != nil || out.Len() != 0 {
		t.Errorf("no services printed %q", out.String())
	}
}

func TestServiceExternalIP(t *testing.T) {
	lb := labService()
	lb.Spec.Type = v1.ServiceTypeLoadBalancer
	if got := serviceExternalIP(lb, false); got != "<pending>" {
		t.Errorf("pending LB: %s", got)
	}
	lb.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: "203.0.113.10"}, {IP: "203.0.113.11"}}
	if got := serviceExternalIP(lb, false); got != "203.0.113.10,..." {
		t.Errorf("LB: %s", got)
	}
	if got := serviceExternalIP(lb, true); got != "203.0.113.10,203.0.113.11" {
		t.Errorf("LB wide: %s", got)
	}
	en := labService()
	en.Spec.Type, en.Spec.ExternalName = v1.ServiceTypeExternalName, "db.example.com"
	if got := serviceExternalIP(en, false); got != "db.example.com" {
		t.Errorf("ExternalName: %s", got)
	}
}

func TestDescribeService(t *testing.T) {
	now := at("12:00:00").Time
	ep := &v1.Endpoints{Subsets: []v1.EndpointSubset{{
		Addresses:         []v1.EndpointAddress{{IP: "10.244.1.60"}},
		NotReadyAddresses: []v1.EndpointAddress{{IP: "10.244.1.61"}},
		Ports:             []v1.EndpointPort{{Port: 9376, Protocol: v1.ProtocolTCP}},
	}}}
	var out bytes.Buffer
	if err := DescribeService(&out, labService(), ep, nil, now); err != nil {
		t.Fatal(err)
	}
	goldenFile(t, "describe-myservice.txt", out.Bytes())

	// No selector: no endpoints object; events listed.
	mydb := labService()
	mydb.Name, mydb.Spec.Selector = "mydb", nil
	mydb.Labels = map[string]string{"tier": "db"}
	mydb.Spec.Ports = []v1.ServicePort{{Name: "sql", Port: 5432, Protocol: v1.ProtocolTCP, TargetPort: intstr.FromString("sql")}}
	out.Reset()
	events := []v1.Event{kubeletEvent("Warning", "ClusterIPNotAllocated", "no address", 1, "11:59:00", "11:59:00")}
	if err := DescribeService(&out, mydb, nil, events, now); err != nil {
		t.Fatal(err)
	}
	goldenFile(t, "describe-mydb.txt", out.Bytes())
}

func TestFormatEndpoints(t *testing.T) {
	var addrs []v1.EndpointAddress
	for _, ip := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"} {
		addrs = append(addrs, v1.EndpointAddress{IP: ip})
	}
	many := &v1.Endpoints{Subsets: []v1.EndpointSubset{{Addresses: addrs, Ports: []v1.EndpointPort{{Name: "http", Port: 80}, {Name: "x", Port: 81}}}}}
	for _, tt := range []struct {
		ep   *v1.Endpoints
		port string
		want string
	}{
		{nil, "", "<none>"},
		{&v1.Endpoints{}, "", ""},
		{many, "http", "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 2 more..."},
		{many, "other", ""},
		{&v1.Endpoints{Subsets: []v1.EndpointSubset{{Addresses: addrs[:2]}}}, "", "10.0.0.1,10.0.0.2"},
	} {
		if got := formatEndpoints(tt.ep, tt.port); got != tt.want {
			t.Errorf("formatEndpoints(%q) = %q, want %q", tt.port, got, tt.want)
		}
	}
}
