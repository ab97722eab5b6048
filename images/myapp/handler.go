package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// version is the app version the index page shows; the image build sets it
// with -ldflags "-X main.version=v1".
var version = "v1"

// serverVersion is what the Server header and error pages carry, as nginx
// prints its own version there.
const serverVersion = "nginx"

// indexPage is the page the lab's ikubernetes/myapp image serves at "/".
func indexPage() string {
	return "Hello MyApp | Version: " + version + " | <a href=\"hostname.html\">Pod Name</a>\n"
}

// handler serves requests with the configuration currently loaded; reload
// swaps it atomically, so requests in flight keep the one they started with.
type handler struct {
	server  atomic.Pointer[Server]
	access  io.Writer // access log, nginx's combined format
	errlog  *errorLog
	nowFunc func() time.Time
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	w = rec
	w.Header().Set("Server", serverVersion)
	defer h.logAccess(r, rec)

	s := h.server.Load()
	if s == nil {
		h.fail(w, r, http.StatusServiceUnavailable)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.fail(w, r, http.StatusMethodNotAllowed)
		return
	}
	uri := r.URL.Path
	if !strings.HasPrefix(uri, "/") || strings.Contains(uri, "\x00") {
		h.fail(w, r, http.StatusBadRequest)
		return
	}
	// nginx normalises the URI before matching (merging "//", resolving
	// "." and ".."), keeping a trailing slash.
	clean := path.Clean(uri)
	if strings.HasSuffix(uri, "/") && clean != "/" {
		clean += "/"
	}
	name, index := s.file(clean)
	if strings.HasSuffix(clean, "/") {
		h.serveIndex(w, r, s, clean, name, index)
		return
	}
	h.serveFile(w, r, s, clean, name)
}

// serveIndex serves the first index file of a directory URI.
func (h *handler) serveIndex(w http.ResponseWriter, r *http.Request, s *Server, uri, dir string, index []string) {
	for _, idx := range index {
		// nginx does an internal redirect to uri+index, which is matched
		// against the locations again.
		name, _ := s.file(uri + idx)
		if h.builtin(s, uri+idx, name) {
			h.serveBuiltin(w, r)
			return
		}
		if fi, err := os.Stat(name); err == nil && fi.Mode().IsRegular() {
			h.serveFile(w, r, s, uri+idx, name)
			return
		}
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		h.errlog.Printf("error", "\"%s\" is not found (2: No such file or directory), client: %s, request: \"%s %s %s\"", dir, clientIP(r), r.Method, r.RequestURI, r.Proto)
		h.fail(w, r, http.StatusNotFound)
		return
	}
	h.errlog.Printf("error", "directory index of \"%s\" is forbidden, client: %s, request: \"%s %s %s\"", dir, clientIP(r), r.Method, r.RequestURI, r.Proto)
	h.fail(w, r, http.StatusForbidden)
}

// builtin reports whether uri is the index page this program carries: the
// index.html of the server's root when that file does not exist. The image
// ships no index.html, so the page comes from the binary and the version
// is the one it was built with; a file put there takes over, as in nginx.
func (h *handler) builtin(s *Server, uri, name string) bool {
	if uri != "/index.html" {
		return false
	}
	loc, ok := s.match(uri)
	if ok && loc.Alias != "" {
		return false
	}
	_, err := os.Stat(name)
	return errors.Is(err, fs.ErrNotExist)
}

func (h *handler) serveBuiltin(w http.ResponseWriter, r *http.Request) {
	body := indexPage()
	w.Header().Set("Content-Type", "text/html")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, body)
	}
}

func (h *handler) serveFile(w http.ResponseWriter, r *http.Request, s *Server, uri, name string) {
	if h.builtin(s, uri, name) {
		h.serveBuiltin(w, r)
		return
	}
	f, err := os.Open(name)
	if err != nil {
		status := http.StatusNotFound
		errno := "2: No such file or directory"
		if errors.Is(err, fs.ErrPermission) {
			status, errno = http.StatusForbidden, "13: Permission denied"
		}
		h.errlog.Printf("error", "open() \"%s\" failed (%s), client: %s, request: \"%s %s %s\"", name, errno, clientIP(r), r.Method, r.RequestURI, r.Proto)
		h.fail(w, r, status)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		h.fail(w, r, http.StatusInternalServerError)
		return
	}
	if fi.IsDir() {
		// nginx redirects a directory without its trailing slash.
		w.Header().Set("Location", uri+"/")
		h.fail(w, r, http.StatusMovedPermanently)
		return
	}
	// The type comes from the URI's extension, as nginx's types map does:
	// /hostname.html is text/html even though /etc/hostname has none.
	ctype := mime.TypeByExtension(filepath.Ext(uri))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	if i := strings.Index(ctype, ";"); i >= 0 {
		ctype = ctype[:i]
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Length", strconv.FormatInt(fi.Size(), 10))
	w.Header().Set("Last-Modified", fi.ModTime().UTC().Format(http.TimeFormat))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = io.Copy(w, f)
	}
}

// fail writes nginx's error page for status.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, status int) {
	text := fmt.Sprintf("%d %s", status, http.StatusText(status))
	body := "<html>\r\n<head><title>" + text + "</title></head>\r\n<body>\r\n<center><h1>" + text +
		"</h1></center>\r\n<hr><center>" + serverVersion + "</center>\r\n</body>\r\n</html>\r\n"
	w.Header().Set("Content-Type", "text/html")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, body)
	}
}

func (h *handler) logAccess(r *http.Request, rec *recorder) {
	if h.access == nil {
		return
	}
	now := time.Now()
	if h.nowFunc != nil {
		now = h.nowFunc()
	}
	referer, agent := r.Referer(), r.UserAgent()
	if referer == "" {
		referer = "-"
	}
	if agent == "" {
		agent = "-"
	}
	fmt.Fprintf(h.access, "%s - - [%s] \"%s %s %s\" %d %d \"%s\" \"%s\" \"-\"\n",
		clientIP(r), now.Format("02/Jan/2006:15:04:05 -0700"), r.Method, r.RequestURI, r.Proto,
		rec.status, rec.bytes, referer, agent)
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// recorder remembers the status and body size for the access log.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}
