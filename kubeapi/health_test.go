package kubeapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/zap/zaptest"
)

func TestServeHealth(t *testing.T) {
	failing := errors.New("not yet")
	var synced error = failing
	s := &Server{log: zaptest.NewLogger(t), deps: Deps{Health: []HealthCheck{
		{Name: "containerd", Check: func(context.Context) error { return nil }},
		{Name: "manifests-synced", ReadyOnly: true, Check: func(context.Context) error { return synced }},
	}}}
	get := func(url string) (int, string) {
		w := httptest.NewRecorder()
		s.route(w, httptest.NewRequest(http.MethodGet, url, nil))
		return w.Code, w.Body.String()
	}
	for _, tc := range []struct {
		url  string
		code int
		body string
	}{
		// Before the first read: not ready, but live.
		{"/readyz", 500, "[+]ping ok\n[+]containerd ok\n[-]manifests-synced failed: reason withheld\n[+]shutdown ok\nreadyz check failed\n"},
		{"/readyz/manifests-synced", 500, "internal server error: not yet\n"},
		{"/readyz?exclude=manifests-synced", 200, "ok"},
		{"/livez", 200, "ok"},
		{"/livez?verbose", 200, "[+]ping ok\n[+]containerd ok\nlivez check passed\n"},
		{"/healthz?verbose=1", 200, "[+]ping ok\n[+]containerd ok\nhealthz check passed\n"},
		{"/livez/manifests-synced", 404, "404 page not found\n"},
		{"/readyz/ping", 200, "ok"},
		{"/readyz?verbose&exclude=nosuch&exclude=manifests-synced", 200, "[+]ping ok\n[+]containerd ok\n[+]manifests-synced excluded: ok\n[+]shutdown ok\n" +
			"warn: some health checks cannot be excluded: no matches for \"nosuch\"\nreadyz check passed\n"},
	} {
		if code, body := get(tc.url); code != tc.code || body != tc.body {
			t.Errorf("GET %s = %d\n%s\nwant %d\n%s", tc.url, code, body, tc.code, tc.body)
		}
	}
	synced = nil
	if code, body := get("/readyz"); code != 200 || body != "ok" {
		t.Errorf("after the first read: /readyz = %d %q", code, body)
	}
	s.stopping.Store(true)
	if code, body := get("/readyz?verbose"); code != 500 || body != "[+]ping ok\n[+]containerd ok\n[+]manifests-synced ok\n[-]shutdown failed: reason withheld\nreadyz check failed\n" {
		t.Errorf("while stopping: /readyz = %d %q", code, body)
	}
}

func TestRequestLabels(t *testing.T) {
	for _, tc := range []struct {
		method, url string
		want        requestLabelSet
	}{
		{"GET", "/api/v1/namespaces/default/pods?limit=500", requestLabelSet{verb: "LIST", version: "v1", resource: "pods", scope: "namespace"}},
		{"GET", "/api/v1/pods?watch=true", requestLabelSet{verb: "WATCH", version: "v1", resource: "pods", scope: "cluster"}},
		{"GET", "/api/v1/namespaces/default/pods/web", requestLabelSet{verb: "GET", version: "v1", resource: "pods", scope: "resource"}},
		{"POST", "/api/v1/namespaces/default/pods/web/exec?command=ls", requestLabelSet{verb: "CONNECT", version: "v1", resource: "pods", subresource: "exec", scope: "resource"}},
		{"GET", "/api/v1/namespaces/default/pods/web/log", requestLabelSet{verb: "GET", version: "v1", resource: "pods", subresource: "log", scope: "resource"}},
		{"POST", "/apis/apps/v1/namespaces/default/deployments?dryRun=All", requestLabelSet{verb: "POST", dryRun: "All", group: "apps", version: "v1", resource: "deployments", scope: "namespace"}},
		{"PATCH", "/api/v1/namespaces/default/services/s", requestLabelSet{verb: "PATCH", version: "v1", resource: "services", scope: "resource"}},
		{"DELETE", "/api/v1/namespaces/default/pods", requestLabelSet{verb: "DELETECOLLECTION", version: "v1", resource: "pods", scope: "namespace"}},
		{"GET", "/api/v1/nodes", requestLabelSet{verb: "LIST", version: "v1", resource: "nodes", scope: "cluster"}},
		{"GET", "/version", requestLabelSet{verb: "GET"}},
		{"GET", "/api/v1", requestLabelSet{verb: "GET"}},
		{"GET", "/api/v1/nosuch", requestLabelSet{verb: "GET"}},
	} {
		if got := requestLabels(httptest.NewRequest(tc.method, tc.url, nil)); got != tc.want {
			t.Errorf("%s %s = %+v, want %+v", tc.method, tc.url, got, tc.want)
		}
	}
}
