//go:build integration

package agent

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/minikubelet/minikubelet/internal/portmaptest"
	"github.com/minikubelet/minikubelet/internal/testenv"
)

// A hostPort reaches the pod from the node's own addresses (the bridge's
// gateway and the node IP), through the portmap plugin of the agent's CNI
// network, and stops answering once the pod is gone.
func TestHostPort(t *testing.T) {
	env := testenv.New(t)
	portmaptest.CleanupChains(t)
	cfg := testConfig(t, env)
	a := startAgent(t, cfg)
	hostPort := 30000 + rand.IntN(2000)
	a.write("hp.yaml", pod("hp", "Always", fmt.Sprintf(`  - name: web
    image: busybox
    command: [sh, -c, 'mkdir /www && echo hello from the pod > /www/index.html && exec httpd -f -p 8080 -h /www']
    ports: [{containerPort: 8080, hostPort: %d}]
`, hostPort)))
	a.waitPod("hp", "Running", time.Minute, statusIs("Running"))

	_, subnet, err := net.ParseCIDR(env.Subnet)
	if err != nil {
		t.Fatal(err)
	}
	gw := net.IP(append([]byte(nil), subnet.IP.To4()...))
	gw[3]++
	targets := []string{gw.String()}
	if ip := firstHostIP(cfg.Bridge); ip != "" {
		targets = append(targets, ip)
	}
	client := &http.Client{Timeout: 2 * time.Second}
	get := func(url string) (string, error) {
		resp, err := client.Get(url)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	for _, ip := range targets {
		url := fmt.Sprintf("http://%s/", net.JoinHostPort(ip, fmt.Sprint(hostPort)))
		testenv.WaitFor(t, "hostPort answers at "+url, func() (bool, string) {
			body, err := get(url)
			return body == "hello from the pod\n", fmt.Sprintf("%q %v", body, err)
		})
	}
	a.remove("hp.yaml")
	a.waitGone("hp", time.Minute)
	for _, ip := range targets {
		url := fmt.Sprintf("http://%s/", net.JoinHostPort(ip, fmt.Sprint(hostPort)))
		if body, err := get(url); err == nil {
			t.Errorf("%s still answers after the pod is gone: %q", url, body)
		}
	}
}
