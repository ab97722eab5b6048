//go:build reference

package kubeapi

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRecordReference asks the real kube-apiserver that
// scripts/reference-apiserver runs what the tests ask the agent, and
// writes its answers, normalized, to REFERENCE_OUT. It only runs with the
// reference build tag, from that script.
func TestRecordReference(t *testing.T) {
	server, pki, out := os.Getenv("REFERENCE_SERVER"), os.Getenv("REFERENCE_PKI"), os.Getenv("REFERENCE_OUT")
	if server == "" || pki == "" || out == "" {
		t.Fatal("run by scripts/reference-apiserver: REFERENCE_SERVER, REFERENCE_PKI and REFERENCE_OUT are unset")
	}
	rec := newRecorder(t, server, pki, out)
	if err := os.RemoveAll(out); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, e := range referenceExchanges() {
		code, hdr, body := rec.do(e)
		if code != e.code {
			t.Errorf("%s: %s %s = %d, want %d\n%s", e.name, e.method, e.path, code, e.code, body)
		}
		if e.golden == "" {
			continue
		}
		if e.warnings {
			rec.write(e.golden+".json", encodeGolden(hdr.Values("Warning")))
			continue
		}
		v := decodeNormalized(t, e.name, body)
		if e.golden == "version" {
			v = normalizeVersion(v)
		}
		rec.write(e.golden+".json", encodeGolden(v))
	}
	rec.recordWatch()
	rec.recordKubectl(os.Getenv("REFERENCE_KUBECONFIG"))
}

type recorder struct {
	t      *testing.T
	server string
	out    string
	client *http.Client
}

func newRecorder(t *testing.T, server, pki, out string) *recorder {
	ca, err := os.ReadFile(filepath.Join(pki, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatal("no CA certificate")
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(pki, "admin.crt"), filepath.Join(pki, "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	return &recorder{t: t, server: server, out: out, client: &http.Client{Transport: &http.Transport{
		Proxy:           nil,
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
	}}}
}

// do sends one exchange's request (without the client certificate when
// e.anonymous) and returns the status, headers and body.
func (r *recorder) do(e exchange) (int, http.Header, []byte) {
	r.t.Helper()
	client := r.client
	if e.anonymous {
		tr := r.client.Transport.(*http.Transport).Clone()
		tr.TLSClientConfig.Certificates = nil
		client = &http.Client{Transport: tr}
	}
	req, err := http.NewRequest(e.method, r.server+e.path, strings.NewReader(e.body))
	if err != nil {
		r.t.Fatal(err)
	}
	for k, v := range e.header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		r.t.Fatalf("%s: %v", e.name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatalf("%s: %v", e.name, err)
	}
	return resp.StatusCode, resp.Header, body
}

func (r *recorder) write(name string, data []byte) {
	r.t.Helper()
	if err := os.WriteFile(filepath.Join(r.out, name), data, 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// recordWatch watches pods from a list's resourceVersion, as kubectl get
// -w does (also as Table rows), while a pod is created, labelled and
// deleted, and records the events up to the pod's DELETED.
func (r *recorder) recordWatch() {
	r.t.Helper()
	_, _, body := r.do(exchange{name: "list", method: "GET", path: "/api/v1/namespaces/default/pods?fieldSelector=metadata.name%3Dwatched"})
	var list struct {
		Metadata struct{ ResourceVersion string }
	}
	if err := json.Unmarshal(body, &list); err != nil || list.Metadata.ResourceVersion == "" {
		r.t.Fatalf("list: %v %s", err, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type stream struct {
		golden string
		accept string
		events chan []byte
	}
	streams := []stream{{"watch-pods", "application/json", make(chan []byte, 16)},
		{"watch-pods-table", tableAccept, make(chan []byte, 16)}}
	for _, s := range streams {
		req, _ := http.NewRequestWithContext(ctx, "GET", r.server+"/api/v1/namespaces/default/pods?watch=true&fieldSelector=metadata.name%3Dwatched&resourceVersion="+list.Metadata.ResourceVersion, nil)
		req.Header.Set("Accept", s.accept)
		resp, err := r.client.Do(req)
		if err != nil || resp.StatusCode != 200 {
			r.t.Fatalf("watch: %v %v", err, resp)
		}
		go func() {
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				s.events <- bytes.Clone(sc.Bytes())
			}
			close(s.events)
		}()
	}
	for _, e := range []exchange{
		{name: "watched create", method: "POST", path: "/api/v1/namespaces/default/pods", body: podJSON("watched", ""), header: jsonBody, code: 201},
		{name: "watched label", method: "PATCH", path: "/api/v1/namespaces/default/pods/watched", body: `{"metadata":{"labels":{"step":"two"}}}`,
			header: map[string]string{"Content-Type": "application/strategic-merge-patch+json"}, code: 200},
		{name: "watched delete", method: "DELETE", path: "/api/v1/namespaces/default/pods/watched", code: 200},
	} {
		if code, _, body := r.do(e); code != e.code {
			r.t.Fatalf("%s: %d\n%s", e.name, code, body)
		}
	}
	for _, s := range streams {
		var events []any
		for done := false; !done; {
			select {
			case line, ok := <-s.events:
				if !ok {
					r.t.Fatalf("%s ended after %d events", s.golden, len(events))
				}
				var e any
				if err := json.Unmarshal(line, &e); err != nil {
					r.t.Fatalf("%s: %v", s.golden, err)
				}
				events = append(events, e)
				done = e.(map[string]any)["type"] == "DELETED"
			case <-ctx.Done():
				r.t.Fatalf("%s: %d events", s.golden, len(events))
			}
		}
		r.write(s.golden+".json", encodeGolden(normalizeWatch(events)))
	}
}

func (r *recorder) recordKubectl(kubeconfig string) {
	r.t.Helper()
	bin, err := exec.LookPath("kubectl")
	if err != nil {
		r.t.Fatalf("kubectl: %v", err)
	}
	home := r.t.TempDir()
	var steps []kubectlStep
	for _, s := range referenceKubectlSteps() {
		cmd := exec.Command(bin, append([]string{"--kubeconfig", kubeconfig}, s.Args...)...)
		cmd.Env = append(os.Environ(), "HOME="+home, "KUBECONFIG=")
		cmd.Stdin = strings.NewReader(s.Stdin)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			s.Exit = ee.ExitCode()
		} else if err != nil {
			r.t.Fatalf("kubectl %v: %v", s.Args, err)
		}
		s.Stdout, s.Stderr = out.String(), errOut.String()
		steps = append(steps, s)
	}
	version, _ := exec.Command(bin, "version", "--client").Output()
	r.write("kubectl.json", encodeGolden(map[string]any{
		"kubectl": strings.TrimSpace(strings.Split(string(version), "\n")[0]),
		"steps":   steps,
	}))
	fmt.Fprintf(os.Stderr, "recorded %d kubectl steps\n", len(steps))
}
