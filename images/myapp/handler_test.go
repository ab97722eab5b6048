package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// newTestHandler serves a server whose root is a temp dir and whose
// hostname.html is an alias of a temp file holding "myapp-pod\n".
func newTestHandler(t *testing.T) (*handler, string, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "html")
	if err := os.MkdirAll(filepath.Join(root, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "50x.html"), []byte("oops\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hostname := filepath.Join(dir, "hostname")
	if err := os.WriteFile(hostname, []byte("myapp-pod\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var access, errs bytes.Buffer
	el := newErrorLog(&errs)
	el.now = func() time.Time { return time.Date(2020, 6, 27, 2, 51, 21, 0, time.UTC) }
	h := &handler{access: &access, errlog: el, nowFunc: el.now}
	h.server.Store(&Server{
		Listen: []string{":80"},
		Root:   root,
		Index:  []string{"index.html"},
		Locations: []Location{
			{Path: "/", Root: root, Index: []string{"index.html", "index.htm"}},
			{Exact: true, Path: "/hostname.html", Alias: hostname},
		},
	})
	return h, root, &access, &errs
}

func get(t *testing.T, h http.Handler, method, target string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	req.RemoteAddr = "10.244.0.1:40000"
	req.Header.Set("User-Agent", "kube-probe/1.34")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHandler(t *testing.T) {
	const hello = "Hello MyApp | Version: v1 | <a href=\"hostname.html\">Pod Name</a>\n"
	tests := []struct {
		method, target string
		status         int
		body           string // exact unless contains is set
		contains       bool
		ctype          string
	}{
		{method: "GET", target: "/", status: 200, body: hello, ctype: "text/html"},
		{method: "GET", target: "/index.html", status: 200, body: hello, ctype: "text/html"},
		{method: "GET", target: "/hostname.html", status: 200, body: "myapp-pod\n", ctype: "text/html"},
		{method: "GET", target: "//hostname.html", status: 200, body: "myapp-pod\n"},
		{method: "GET", target: "/50x.html", status: 200, body: "oops\n"},
		{method: "HEAD", target: "/", status: 200, body: ""},
		{method: "GET", target: "/missing.html", status: 404, body: "<center><h1>404 Not Found</h1></center>", contains: true, ctype: "text/html"},
		{method: "GET", target: "/sub", status: 301, body: "301 Moved Permanently", contains: true},
		{method: "GET", target: "/sub/", status: 403, body: "403 Forbidden", contains: true},
		{method: "GET", target: "/nodir/", status: 404, body: "404 Not Found", contains: true},
		{method: "GET", target: "/../../etc/passwd", status: 404, body: "404 Not Found", contains: true},
		{method: "POST", target: "/", status: 405, body: "405 Not Allowed", contains: false},
	}
	h, _, _, _ := newTestHandler(t)
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			resp := get(t, h, tt.method, tt.target)
			got := body(t, resp)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d (body %q)", resp.StatusCode, tt.status, got)
			}
			if tt.status == 405 {
				return
			}
			if tt.contains && !strings.Contains(got, tt.body) || !tt.contains && got != tt.body {
				t.Errorf("body = %q, want %q", got, tt.body)
			}
			if tt.ctype != "" && resp.Header.Get("Content-Type") != tt.ctype {
				t.Errorf("Content-Type = %q, want %q", resp.Header.Get("Content-Type"), tt.ctype)
			}
			if resp.Header.Get("Server") != "nginx" {
				t.Errorf("Server = %q", resp.Header.Get("Server"))
			}
		})
	}
}

func TestHandlerVersion(t *testing.T) {
	old := version
	version = "v2"
	t.Cleanup(func() { version = old })
	h, _, _, _ := newTestHandler(t)
	if got := body(t, get(t, h, "GET", "/")); got != "Hello MyApp | Version: v2 | <a href=\"hostname.html\">Pod Name</a>\n" {
		t.Errorf("index = %q", got)
	}
}

func TestHandlerIndexFileTakesOver(t *testing.T) {
	h, root, _, _ := newTestHandler(t)
	if err := os.WriteFile(filepath.Join(root, "index.html"), []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"/", "/index.html"} {
		if got := body(t, get(t, h, "GET", target)); got != "mine\n" {
			t.Errorf("GET %s = %q, want the file", target, got)
		}
	}
}

func TestHandlerWithoutHostnameLocation(t *testing.T) {
	h, root, _, errs := newTestHandler(t)
	s := *h.server.Load()
	s.Locations = s.Locations[:1]
	h.server.Store(&s)
	resp := get(t, h, "GET", "/hostname.html")
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status = %d, want 404 once the alias is gone", resp.StatusCode)
	}
	want := `[error] ` // nginx names the file it tried under the root
	if !strings.Contains(errs.String(), want) || !strings.Contains(errs.String(), filepath.Join(root, "hostname.html")) {
		t.Errorf("error log = %q", errs.String())
	}
}

func TestAccessLog(t *testing.T) {
	h, _, access, _ := newTestHandler(t)
	get(t, h, "GET", "/hostname.html")
	get(t, h, "GET", "/nope")
	want := `10.244.0.1 - - [27/Jun/2020:02:51:21 +0000] "GET /hostname.html HTTP/1.1" 200 10 "-" "kube-probe/1.34" "-"` + "\n" +
		`10.244.0.1 - - [27/Jun/2020:02:51:21 +0000] "GET /nope HTTP/1.1" 404 `
	if !strings.HasPrefix(access.String(), want) {
		t.Errorf("access log =\n%s\nwant prefix\n%s", access.String(), want)
	}
}
