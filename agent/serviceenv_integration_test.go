//go:build integration

package agent

import (
	"strings"
	"testing"
	"time"
)

// Containers get the Services' variables as from the kubelet: the
// `kubernetes` Service's (client-go's in-cluster config reads them) and,
// with enableServiceLinks (the default), those of the pod's namespace.
func TestServiceEnvVars(t *testing.T) {
	_, a, k := startWithKubectl(t)
	k.ok("create", "service", "clusterip", "my-web", "--tcp=8080:80")
	apiIP := k.ok("get", "svc", "kubernetes", "-o", "jsonpath={.spec.clusterIP}")
	webIP := k.ok("get", "svc", "my-web", "-o", "jsonpath={.spec.clusterIP}")
	if apiIP == "" || webIP == "" {
		t.Fatalf("ClusterIPs: kubernetes %q, my-web %q", apiIP, webIP)
	}
	pod := func(name, links string) string {
		return `apiVersion: v1
kind: Pod
metadata:
  name: ` + name + `
spec:
  enableServiceLinks: ` + links + `
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'env | sort']
    env:
    - {name: API, value: 'https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)'}
`
	}
	a.write("links.yaml", pod("links", "true"))
	a.write("nolinks.yaml", pod("nolinks", "false"))
	a.waitPod("links", "Completed", time.Minute, statusIs("Completed"))
	a.waitPod("nolinks", "Completed", time.Minute, statusIs("Completed"))

	lines := func(name string) []string { return strings.Split(k.ok("logs", name), "\n") }
	master := []string{
		"KUBERNETES_SERVICE_HOST=" + apiIP, "KUBERNETES_SERVICE_PORT=443", "KUBERNETES_SERVICE_PORT_HTTPS=443",
		"KUBERNETES_PORT=tcp://" + apiIP + ":443", "KUBERNETES_PORT_443_TCP=tcp://" + apiIP + ":443",
		"KUBERNETES_PORT_443_TCP_PROTO=tcp", "KUBERNETES_PORT_443_TCP_PORT=443", "KUBERNETES_PORT_443_TCP_ADDR=" + apiIP,
		"API=https://" + apiIP + ":443",
	}
	web := []string{
		"MY_WEB_SERVICE_HOST=" + webIP, "MY_WEB_SERVICE_PORT=8080", "MY_WEB_SERVICE_PORT_8080_80=8080",
		"MY_WEB_PORT=tcp://" + webIP + ":8080", "MY_WEB_PORT_8080_TCP_ADDR=" + webIP, "MY_WEB_PORT_8080_TCP_PORT=8080",
	}
	got := lines("links")
	for _, want := range append(append([]string(nil), master...), web...) {
		if !slicesContains(got, want) {
			t.Errorf("pod links: no %s in\n%s", want, strings.Join(got, "\n"))
		}
	}
	got = lines("nolinks")
	for _, want := range master {
		if !slicesContains(got, want) {
			t.Errorf("pod nolinks: no %s in\n%s", want, strings.Join(got, "\n"))
		}
	}
	for _, l := range got {
		if strings.HasPrefix(l, "MY_WEB_") {
			t.Errorf("pod nolinks has %s with enableServiceLinks: false", l)
		}
	}
}
