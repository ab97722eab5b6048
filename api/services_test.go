package api

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"testing"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fakeServices is a ServiceSource over fixed objects.
type fakeServices struct {
	svcs []*v1.Service
	eps  []*v1.Endpoints
}

func (f *fakeServices) ListServices(ns string) []*v1.Service {
	var out []*v1.Service
	for _, s := range f.svcs {
		if ns == "" || s.Namespace == ns {
			out = append(out, s.DeepCopy())
		}
	}
	return out
}

func (f *fakeServices) GetService(ns, name string) (*v1.Service, bool) {
	for _, s := range f.svcs {
		if s.Namespace == ns && s.Name == name {
			return s.DeepCopy(), true
		}
	}
	return nil, false
}

func (f *fakeServices) ListEndpoints(ns string) []*v1.Endpoints {
	var out []*v1.Endpoints
	for _, e := range f.eps {
		if ns == "" || e.Namespace == ns {
			out = append(out, e.DeepCopy())
		}
	}
	return out
}

func (f *fakeServices) GetEndpoints(ns, name string) (*v1.Endpoints, bool) {
	for _, e := range f.eps {
		if e.Namespace == ns && e.Name == name {
			return e.DeepCopy(), true
		}
	}
	return nil, false
}

func labServices() *fakeServices {
	meta := func(ns, name string, labels map[string]string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}
	}
	return &fakeServices{
		svcs: []*v1.Service{
			{ObjectMeta: meta("default", "mydb", nil), Spec: v1.ServiceSpec{ClusterIP: "10.96.0.31"}},
			{ObjectMeta: meta("default", "myservice", map[string]string{"tier": "web"}), Spec: v1.ServiceSpec{ClusterIP: "10.96.0.20"}},
			{ObjectMeta: meta("team", "db", nil), Spec: v1.ServiceSpec{ClusterIP: "None"}},
		},
		eps: []*v1.Endpoints{{ObjectMeta: meta("default", "myservice", map[string]string{"tier": "web"}),
			Subsets: []v1.EndpointSubset{{Addresses: []v1.EndpointAddress{{IP: "10.244.0.5"}}}}}},
	}
}

func TestServicesAPI(t *testing.T) {
	env := startServer(t, Deps{Services: labServices()})
	ctx := context.Background()

	list, err := env.client.ListServices(ctx, "default", "")
	if err != nil {
		t.Fatal(err)
	}
	if list.Kind != "ServiceList" || len(list.Items) != 2 || list.Items[0].Name != "mydb" || list.Items[0].Kind != "Service" {
		t.Errorf("list = %+v", list)
	}
	if all, _ := env.client.ListServices(ctx, "", ""); len(all.Items) != 3 {
		t.Errorf("all namespaces: %d services", len(all.Items))
	}
	if sel, _ := env.client.ListServices(ctx, "", "tier=web"); len(sel.Items) != 1 || sel.Items[0].Name != "myservice" {
		t.Errorf("label selector: %+v", sel.Items)
	}
	svc, err := env.client.GetService(ctx, "default", "myservice")
	if err != nil || svc.Spec.ClusterIP != "10.96.0.20" || svc.APIVersion != "v1" || svc.Kind != "Service" {
		t.Errorf("get = %+v, %v", svc, err)
	}
	_, err = env.client.GetService(ctx, "default", "nosuch")
	if !apierrors.IsNotFound(err) || err.Error() != `services "nosuch" not found` {
		t.Errorf("missing service: %v", err)
	}

	ep, err := env.client.GetEndpoints(ctx, "default", "myservice")
	if err != nil || ep.Kind != "Endpoints" || ep.Subsets[0].Addresses[0].IP != "10.244.0.5" {
		t.Errorf("endpoints = %+v, %v", ep, err)
	}
	_, err = env.client.GetEndpoints(ctx, "default", "mydb")
	if !apierrors.IsNotFound(err) || err.Error() != `endpoints "mydb" not found` {
		t.Errorf("missing endpoints: %v", err)
	}
	if eps, err := env.client.ListEndpoints(ctx, "", ""); err != nil || eps.Kind != "EndpointsList" || len(eps.Items) != 1 {
		t.Errorf("endpoints list = %+v, %v", eps, err)
	}
}

func TestServicesAPIWithoutServices(t *testing.T) {
	env := startServer(t, Deps{})
	ctx := context.Background()
	list, err := env.client.ListServices(ctx, "default", "")
	if err != nil || len(list.Items) != 0 {
		t.Errorf("list = %+v, %v", list, err)
	}
	// An empty list is [] on the wire, as the API server sends it.
	hc := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", env.socket)
	}}}
	resp, err := hc.Get("http://x/api/v1/namespaces/default/services")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || string(raw["items"]) != "[]" {
		t.Errorf("body = %s", body)
	}
	if _, err := env.client.GetService(ctx, "default", "x"); !apierrors.IsNotFound(err) {
		t.Errorf("get: %v", err)
	}
}
