package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/minikubelet/minikubelet/events"
	"github.com/minikubelet/minikubelet/status"
)

// testEnv is a server over real stores, listening on a socket in a
// temporary directory.
type testEnv struct {
	socket string
	pods   *status.Store
	events *events.Store
	client *Client
	deps   Deps
}

func startServer(t *testing.T, deps Deps) *testEnv {
	t.Helper()
	dir := t.TempDir()
	env := &testEnv{socket: filepath.Join(dir, "run", "api.sock")}
	if deps.Pods == nil {
		env.pods = status.NewStore()
		deps.Pods = env.pods
	}
	if deps.Events == nil {
		env.events = events.NewStore(zaptest.NewLogger(t), "node1", 100)
		deps.Events = env.events
	}
	if deps.LogDir == "" {
		deps.LogDir = filepath.Join(dir, "logs")
	}
	if deps.ManifestDir == "" {
		deps.ManifestDir = filepath.Join(dir, "manifests")
	}
	env.deps = deps
	srv := NewServer(zaptest.NewLogger(t), deps)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, env.socket) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if _, err := os.Stat(env.socket); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket %s left behind after shutdown (stat: %v)", env.socket, err)
		}
	})
	waitFor(t, func() bool {
		c, err := net.Dial("unix", env.socket)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	env.client = NewClient(env.socket)
	return env
}

// waitFor polls cond until it holds or the test's patience runs out.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rawGet fetches path over the socket and returns status code and body.
func (e *testEnv) rawGet(t *testing.T, path string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := e.client.http.Get("http://minikubelet" + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return resp.StatusCode, resp.Header, body
}

func testPod(ns, name string, labels map[string]string) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name, UID: types.UID(ns + "-" + name + "-uid"), Labels: labels,
			CreationTimestamp: metav1.NewTime(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)),
		},
		Spec: v1.PodSpec{Containers: []v1.Container{{Name: "app", Image: "busybox"}}, NodeName: "node1"},
		Status: v1.PodStatus{
			Phase: v1.PodRunning,
			PodIP: "10.244.0.5",
			ContainerStatuses: []v1.ContainerStatus{{
				Name: "app", ContainerID: "containerd://" + ns + name, Ready: true,
				State: v1.ContainerState{Running: &v1.ContainerStateRunning{}},
			}},
		},
	}
}

func TestListAndGetPods(t *testing.T) {
	env := startServer(t, Deps{})
	env.pods.Set(testPod("default", "web", map[string]string{"app": "web"}))
	env.pods.Set(testPod("default", "db", map[string]string{"app": "db"}))
	env.pods.Set(testPod("kube-system", "dns", nil))
	ctx := context.Background()

	names := func(l *v1.PodList) string {
		var n []string
		for _, p := range l.Items {
			n = append(n, p.Namespace+"/"+p.Name)
		}
		return strings.Join(n, ",")
	}
	for _, tc := range []struct {
		path string
		want string
	}{
		{"/pods", "default/db,default/web,kube-system/dns"},
		{"/api/v1/pods", "default/db,default/web,kube-system/dns"},
		{"/api/v1/namespaces/default/pods", "default/db,default/web"},
		{"/api/v1/namespaces/other/pods", ""},
		{"/api/v1/namespaces/default/pods?labelSelector=app%3Dweb", "default/web"},
		{"/api/v1/pods?fieldSelector=metadata.namespace%3Dkube-system", "kube-system/dns"},
		{"/api/v1/pods?fieldSelector=status.phase%21%3DRunning", ""},
	} {
		code, _, body := env.rawGet(t, tc.path)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", tc.path, code, body)
		}
		var list v1.PodList
		if err := json.Unmarshal(body, &list); err != nil {
			t.Fatalf("GET %s: %v", tc.path, err)
		}
		if list.Kind != "PodList" || list.APIVersion != "v1" {
			t.Errorf("GET %s: kind %q apiVersion %q", tc.path, list.Kind, list.APIVersion)
		}
		if got := names(&list); got != tc.want {
			t.Errorf("GET %s: got %q, want %q", tc.path, got, tc.want)
		}
	}

	// An empty list has "items": [], not null, like the API server's.
	if _, _, body := env.rawGet(t, "/api/v1/namespaces/none/pods"); !strings.Contains(string(body), `"items":[]`) {
		t.Errorf("empty list: %s", body)
	}

	pod, err := env.client.GetPod(ctx, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	if pod.Kind != "Pod" || pod.APIVersion != "v1" || pod.Status.PodIP != "10.244.0.5" ||
		pod.Status.ContainerStatuses[0].State.Running == nil {
		t.Errorf("GetPod: %+v", pod)
	}

	// A missing pod is a v1 Status 404, worded like the API server's.
	code, _, body := env.rawGet(t, "/api/v1/namespaces/default/pods/nope")
	var st metav1.Status
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	if code != 404 || st.Kind != "Status" || st.Code != 404 || st.Reason != metav1.StatusReasonNotFound ||
		st.Message != `pods "nope" not found` || st.Details == nil || st.Details.Name != "nope" {
		t.Errorf("404: %d %s", code, body)
	}
	_, err = env.client.GetPod(ctx, "default", "nope")
	if !apierrors.IsNotFound(err) || err.Error() != `pods "nope" not found` {
		t.Errorf("client GetPod(nope) = %v", err)
	}

	code, _, body = env.rawGet(t, "/api/v1/nodes")
	if code != 404 || !strings.Contains(string(body), "the server could not find the requested resource") {
		t.Errorf("unknown path: %d %s", code, body)
	}
	code, _, body = env.rawGet(t, "/api/v1/pods?labelSelector=%3D%3D%3D")
	if code != 400 {
		t.Errorf("bad selector: %d %s", code, body)
	}
}

func TestGetNewestOfSameName(t *testing.T) {
	env := startServer(t, Deps{})
	old := testPod("default", "web", nil)
	old.UID = "old"
	newer := testPod("default", "web", nil)
	newer.UID = "new"
	newer.CreationTimestamp = metav1.NewTime(old.CreationTimestamp.Add(time.Minute))
	env.pods.Set(newer)
	env.pods.Set(old)
	pod, err := env.client.GetPod(context.Background(), "default", "web")
	if err != nil || pod.UID != "new" {
		t.Fatalf("GetPod = %v, %v; want the newest instance", pod, err)
	}
}

func TestWatch(t *testing.T) {
	env := startServer(t, Deps{})
	env.pods.Set(testPod("default", "web", nil))
	env.pods.Set(testPod("other", "x", nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	w, err := env.client.WatchPods(ctx, "default", WatchOptions{InitialEventsEnd: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	next := func() PodEvent {
		t.Helper()
		ev, err := w.Next()
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		return ev
	}
	if ev := next(); ev.Type != watch.Added || ev.Pod.Name != "web" || ev.Pod.Kind != "Pod" {
		t.Fatalf("first event %s %s", ev.Type, ev.Pod.Name)
	}
	if ev := next(); ev.Type != watch.Bookmark || ev.Pod.Annotations[InitialEventsEndAnnotation] != "true" {
		t.Fatalf("want the initial-events-end bookmark, got %s", ev.Type)
	}

	// Changes elsewhere are not seen; changes here are, in order.
	other := testPod("other", "x", nil)
	other.Status.Phase = v1.PodFailed
	env.pods.Set(other)
	mod := testPod("default", "web", nil)
	mod.Status.Phase = v1.PodSucceeded
	env.pods.Set(mod)
	env.pods.Set(testPod("default", "db", nil))
	env.pods.Delete(mod.UID)

	for _, want := range []struct {
		typ   watch.EventType
		name  string
		phase v1.PodPhase
	}{
		{watch.Modified, "web", v1.PodSucceeded},
		{watch.Added, "db", v1.PodRunning},
		{watch.Deleted, "web", v1.PodSucceeded},
	} {
		ev := next()
		if ev.Type != want.typ || ev.Pod.Name != want.name || ev.Pod.Status.Phase != want.phase {
			t.Errorf("got %s %s %s, want %s %s %s", ev.Type, ev.Pod.Name, ev.Pod.Status.Phase, want.typ, want.name, want.phase)
		}
	}

	// A raw watch without bookmarks is plain newline-delimited JSON.
	resp, err := env.client.http.Get("http://minikubelet/api/v1/namespaces/default/pods/db?watch=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ev metav1.WatchEvent
	if err := json.NewDecoder(resp.Body).Decode(&ev); err != nil {
		t.Fatal(err)
	}
	var pod v1.Pod
	if err := json.Unmarshal(ev.Object.Raw, &pod); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "ADDED" || pod.Name != "db" {
		t.Errorf("raw watch: %s %s", ev.Type, pod.Name)
	}
}

func TestNextWatchEvent(t *testing.T) {
	f := podFilter{labels: mustLabels(t, "app=web"), fields: mustFields(t, "")}
	web := testPod("default", "a", map[string]string{"app": "web"})
	relabeled := testPod("default", "a", map[string]string{"app": "db"})
	sent := map[types.UID]*v1.Pod{}
	steps := []struct {
		typ  watch.EventType
		pod  *v1.Pod
		want watch.EventType
	}{
		{watch.Modified, web, watch.Added},         // first sight of a match is ADDED
		{watch.Modified, web, ""},                  // nothing new
		{watch.Modified, relabeled, watch.Deleted}, // stops matching
		{watch.Deleted, relabeled, ""},             // already gone for this watcher
		{watch.Added, web, watch.Added},
	}
	for i, s := range steps {
		got, _ := nextWatchEvent(sent, f, s.typ, s.pod)
		if got != s.want {
			t.Errorf("step %d: got %q, want %q", i, got, s.want)
		}
	}
}

func TestEvents(t *testing.T) {
	env := startServer(t, Deps{})
	web, db := testPod("default", "web", nil), testPod("default", "db", nil)
	env.events.Event(events.PodRef(web, "app"), v1.EventTypeNormal, "Started", "Started container app")
	env.events.Event(events.PodRef(db, ""), v1.EventTypeWarning, "FailedValidation", "bad")
	env.events.Event(events.PodRef(testPod("other", "web", nil), ""), v1.EventTypeNormal, "Pulled", "x")
	ctx := context.Background()

	list, err := env.client.ListEvents(ctx, "default", "involvedObject.name=web")
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Reason != "Started" || list.Kind != "EventList" {
		t.Errorf("events of web: %+v", list)
	}
	list, err = env.client.ListEvents(ctx, "default", "")
	if err != nil || len(list.Items) != 2 {
		t.Errorf("events of default: %v %v", list, err)
	}
	list, err = env.client.ListEvents(ctx, "", "type=Warning")
	if err != nil || len(list.Items) != 1 || list.Items[0].Reason != "FailedValidation" {
		t.Errorf("warnings: %v %v", list, err)
	}
}

type fakeWarner []string

func (f fakeWarner) Warnings() []string { return f }

func TestWarnings(t *testing.T) {
	texts := []string{`web.yaml: spec.containers[0].image: Required value`, `odd "quoted" \ text` + "\nsecond line"}
	env := startServer(t, Deps{Warnings: fakeWarner(texts)})
	var got []string
	env.client.OnWarning = func(s string) { got = append(got, s) }
	if _, err := env.client.ListPods(context.Background(), "default", ListOptions{}); err != nil {
		t.Fatal(err)
	}
	want := []string{texts[0], `odd "quoted" \ text second line`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("warnings %q, want %q", got, want)
	}
}

func TestVersion(t *testing.T) {
	env := startServer(t, Deps{Version: VersionInfo{Version: "v1.2.3"}})
	v, err := env.client.Version(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v.Version != "v1.2.3" || !strings.HasPrefix(v.GoVersion, "go") || !strings.Contains(v.Platform, "/") {
		t.Errorf("version %+v", v)
	}
}

func TestServeSocketHandling(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "a.sock")

	// A socket file nobody answers on is taken over.
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}

	log := zaptest.NewLogger(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewServer(log, Deps{Pods: status.NewStore()}).Serve(ctx, sock) }()
	waitFor(t, func() bool {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600", fi.Mode().Perm())
	}

	// A second server must not steal a live socket.
	err = NewServer(log, Deps{Pods: status.NewStore()}).Serve(context.Background(), sock)
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second Serve on a live socket: %v", err)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket not removed: %v", err)
	}

	// A regular file in the way is not removed.
	if err := os.WriteFile(sock, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := NewServer(log, Deps{Pods: status.NewStore()}).Serve(context.Background(), sock); err == nil {
		t.Error("Serve replaced a regular file")
	}
}

func TestConnectError(t *testing.T) {
	c := NewClient(filepath.Join(t.TempDir(), "none.sock"))
	_, err := c.ListPods(context.Background(), "", ListOptions{})
	var ce *ConnectError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "is the agent running?") {
		t.Errorf("err = %v", err)
	}
}

func mustLabels(t *testing.T, s string) labels.Selector {
	t.Helper()
	sel, err := labels.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

func mustFields(t *testing.T, s string) fields.Selector {
	t.Helper()
	sel, err := fields.ParseSelector(s)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}
