package probe

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const testUA = "kube-probe/1.34"

// splitHostPort returns the host and port of a test server URL.
func splitHostPort(t testing.TB, raw string) (string, int) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	return u.Hostname(), port
}

// request builds a probe request for path on srv.
func request(t *testing.T, srv *httptest.Server, scheme v1.URIScheme, path string, headers ...v1.HTTPHeader) *http.Request {
	t.Helper()
	host, port := splitHostPort(t, srv.URL)
	req, err := NewHTTPRequest(context.Background(), &v1.HTTPGetAction{
		Path: path, Port: intstr.FromInt32(int32(port)), Scheme: scheme, HTTPHeaders: headers,
	}, &v1.Container{}, host, testUA)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestHTTPStatusCodes(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/code/", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/code/"))
		w.WriteHeader(code)
		fmt.Fprint(w, "body of ", code)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tests := []struct {
		code   int
		want   Result
		output string
	}{
		{200, Success, "body of 200"},
		{204, Success, ""},
		{299, Success, "body of 299"},
		{304, Warning, "Probe terminated redirects, Response body: "},
		{399, Warning, "Probe terminated redirects, Response body: body of 399"},
		{400, Failure, "HTTP probe failed with statuscode: 400"},
		{404, Failure, "HTTP probe failed with statuscode: 404"},
		{500, Failure, "HTTP probe failed with statuscode: 500"},
		{503, Failure, "HTTP probe failed with statuscode: 503"},
	}
	p := NewHTTP()
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.code), func(t *testing.T) {
			res, out, err := p.Probe(request(t, srv, "", "/code/"+strconv.Itoa(tt.code)), time.Second)
			if err != nil || res != tt.want || out != tt.output {
				t.Errorf("got (%v, %q, %v), want (%v, %q, nil)", res, out, err, tt.want, tt.output)
			}
		})
	}
}

func TestHTTPHeaders(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
	}))
	defer srv.Close()

	tests := []struct {
		name    string
		headers []v1.HTTPHeader
		check   func(t *testing.T, r *http.Request)
	}{
		{"defaults", nil, func(t *testing.T, r *http.Request) {
			if ua := r.Header.Get("User-Agent"); ua != testUA {
				t.Errorf("User-Agent %q, want %q", ua, testUA)
			}
			if a := r.Header.Values("Accept"); len(a) != 1 || a[0] != "*/*" {
				t.Errorf("Accept %q, want */*", a)
			}
			if ae := r.Header.Get("Accept-Encoding"); ae != "" {
				t.Errorf("Accept-Encoding %q sent; compression must be off", ae)
			}
			if !r.Close {
				t.Error("request allows keep-alive; probes must close the connection")
			}
			if !strings.HasPrefix(r.Host, "127.0.0.1:") {
				t.Errorf("Host %q, want the probed address", r.Host)
			}
		}},
		{"custom headers", []v1.HTTPHeader{{Name: "X-Custom", Value: "a"}, {Name: "x-custom", Value: "b"}}, func(t *testing.T, r *http.Request) {
			if v := r.Header.Values("X-Custom"); len(v) != 2 || v[0] != "a" || v[1] != "b" {
				t.Errorf("X-Custom %q, want [a b]", v)
			}
		}},
		{"host header", []v1.HTTPHeader{{Name: "Host", Value: "example.test"}}, func(t *testing.T, r *http.Request) {
			if r.Host != "example.test" {
				t.Errorf("Host %q, want example.test", r.Host)
			}
		}},
		{"user agent given", []v1.HTTPHeader{{Name: "User-Agent", Value: "mine/1"}}, func(t *testing.T, r *http.Request) {
			if ua := r.Header.Get("User-Agent"); ua != "mine/1" {
				t.Errorf("User-Agent %q, want mine/1", ua)
			}
		}},
		{"accept given", []v1.HTTPHeader{{Name: "Accept", Value: "application/json"}}, func(t *testing.T, r *http.Request) {
			if a := r.Header.Values("Accept"); len(a) != 1 || a[0] != "application/json" {
				t.Errorf("Accept %q, want application/json", a)
			}
		}},
		{"accept emptied", []v1.HTTPHeader{{Name: "Accept", Value: ""}}, func(t *testing.T, r *http.Request) {
			if a, ok := r.Header["Accept"]; ok {
				t.Errorf("Accept %q sent; an empty Accept removes it", a)
			}
		}},
	}
	p := NewHTTP()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			res, out, err := p.Probe(request(t, srv, v1.URISchemeHTTP, "/x", tt.headers...), time.Second)
			if err != nil || res != Success {
				t.Fatalf("got (%v, %q, %v), want success", res, out, err)
			}
			tt.check(t, got)
		})
	}
}

func TestHTTPRedirects(t *testing.T) {
	var other *httptest.Server
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	mux.HandleFunc("/bad", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	mux.HandleFunc("/same", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/same-bad", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/bad", http.StatusFound) })
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	mux.HandleFunc("/other-port", func(w http.ResponseWriter, r *http.Request) {
		// Same hostname, another port: still "local", so it is followed.
		http.Redirect(w, r, other.URL+"/bad", http.StatusFound)
	})
	mux.HandleFunc("/other-host", func(w http.ResponseWriter, r *http.Request) {
		// Another hostname (never resolved: it is not followed).
		_, port := splitHostPort(t, other.URL)
		http.Redirect(w, r, "http://localhost:"+strconv.Itoa(port)+"/ok", http.StatusMovedPermanently)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	other = httptest.NewServer(mux)
	defer other.Close()

	tests := []struct {
		path   string
		want   Result
		output string
	}{
		{"/same", Success, "ok"},
		{"/same-bad", Failure, "HTTP probe failed with statuscode: 500"},
		{"/other-port", Failure, "HTTP probe failed with statuscode: 500"},
		{"/other-host", Warning, "Probe terminated redirects, Response body: <a href=\"http://localhost:"},
		{"/loop", Failure, "stopped after 10 redirects"},
	}
	p := NewHTTP()
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res, out, err := p.Probe(request(t, srv, "", tt.path), time.Second)
			if err != nil || res != tt.want || !strings.Contains(out, tt.output) {
				t.Errorf("got (%v, %q, %v), want (%v, containing %q, nil)", res, out, err, tt.want, tt.output)
			}
		})
	}
}

func TestHTTPTimeoutAndRefused(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)

	p := NewHTTP()
	res, out, err := p.Probe(request(t, srv, "", "/slow"), 200*time.Millisecond)
	if err != nil || res != Failure || !strings.Contains(out, "Client.Timeout exceeded") {
		t.Errorf("slow server: got (%v, %q, %v), want a timeout failure", res, out, err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	req, err := NewHTTPRequest(context.Background(), &v1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(int32(port))},
		&v1.Container{}, "127.0.0.1", testUA)
	if err != nil {
		t.Fatal(err)
	}
	res, out, err = p.Probe(req, time.Second)
	want := fmt.Sprintf(`Get "http://127.0.0.1:%d/healthz": dial tcp 127.0.0.1:%d: connect: connection refused`, port, port)
	if err != nil || res != Failure || out != want {
		t.Errorf("closed port: got (%v, %q, %v), want (failure, %q, nil)", res, out, err, want)
	}
}

func TestHTTPBodyBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		chunk := strings.Repeat("x", 64<<10)
		for range 16 { // 1 MiB
			if _, err := w.Write([]byte(chunk)); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	res, out, err := NewHTTP().Probe(request(t, srv, "", "/big"), 5*time.Second)
	if err != nil || res != Success || len(out) != MaxOutput {
		t.Errorf("got (%v, %d bytes, %v), want success with %d bytes", res, len(out), err, MaxOutput)
	}
}

func TestHTTPSSelfSigned(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "secure ", r.Header.Get("User-Agent"))
	}))
	defer srv.Close()
	res, out, err := NewHTTP().Probe(request(t, srv, v1.URISchemeHTTPS, "/"), time.Second)
	if err != nil || res != Success || out != "secure "+testUA {
		t.Errorf("got (%v, %q, %v), want success", res, out, err)
	}
}

func TestNewHTTPRequestURL(t *testing.T) {
	c := &v1.Container{Ports: []v1.ContainerPort{{Name: "web", ContainerPort: 8080}}}
	tests := []struct {
		name   string
		action v1.HTTPGetAction
		podIP  string
		want   string
	}{
		{"defaults", v1.HTTPGetAction{Port: intstr.FromInt32(80)}, "10.244.0.5", "http://10.244.0.5:80"},
		{"path and named port", v1.HTTPGetAction{Path: "/hostname.html", Port: intstr.FromString("web")}, "10.244.0.5", "http://10.244.0.5:8080/hostname.html"},
		{"query kept", v1.HTTPGetAction{Path: "/h?x=1", Port: intstr.FromInt32(81)}, "10.244.0.5", "http://10.244.0.5:81/h?x=1"},
		{"https host", v1.HTTPGetAction{Host: "127.0.0.1", Scheme: v1.URISchemeHTTPS, Port: intstr.FromInt32(443), Path: "/"}, "10.244.0.5", "https://127.0.0.1:443/"},
		{"ipv6", v1.HTTPGetAction{Port: intstr.FromInt32(80), Path: "/"}, "fd00::5", "http://[fd00::5]:80/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := NewHTTPRequest(context.Background(), &tt.action, c, tt.podIP, testUA)
			if err != nil {
				t.Fatal(err)
			}
			if got := req.URL.String(); got != tt.want {
				t.Errorf("URL %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := NewHTTPRequest(context.Background(), &v1.HTTPGetAction{Port: intstr.FromString("http")}, c, "10.0.0.1", testUA); err == nil {
		t.Error("unknown port name gave no error")
	}
}
