package source

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap/zaptest"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

const waitTimeout = 10 * time.Second

type harness struct {
	t    *testing.T
	dir  string
	ch   chan Update
	last Update
}

func startSource(t *testing.T, cfg Config) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, dir: cfg.Dir, ch: make(chan Update, 16)}
	s := New(zaptest.NewLogger(t), cfg)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, h.ch) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return h
}

// waitFor reads updates until one satisfies cond, with a deadline.
func (h *harness) waitFor(what string, cond func(Update) bool) Update {
	h.t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		select {
		case u := <-h.ch:
			h.last = u
			if cond(u) {
				return u
			}
		case <-deadline.C:
			h.t.Fatalf("timed out waiting for %s; last update: pods %v, errors %v", what, podNames(h.last), errStrings(h.last.Errors))
		}
	}
}

func (h *harness) write(name, content string) {
	h.t.Helper()
	if err := os.WriteFile(filepath.Join(h.dir, name), []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

func podNames(u Update) []string {
	var names []string
	for _, p := range u.Pods {
		names = append(names, podKey(p))
	}
	return names
}

func findPod(u Update, key string) *v1.Pod {
	for _, p := range u.Pods {
		if podKey(p) == key {
			return p
		}
	}
	return nil
}

func hasPods(keys ...string) func(Update) bool {
	return func(u Update) bool { return slices.Equal(podNames(u), keys) }
}

func named(name, image string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\nspec:\n  containers:\n  - name: c\n    image: %s\n", name, image)
}

func TestWatch(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "manifests") // Run creates it
	h := startSource(t, Config{Dir: dir, NodeName: node, Rescan: time.Hour})

	first := h.waitFor("the first snapshot", func(Update) bool { return true })
	if len(first.Pods)+len(first.Errors)+len(first.Skipped) != 0 {
		t.Fatalf("first snapshot of an empty directory = %+v", first)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Fatalf("directory not created: %v", err)
	}

	// create
	h.write("a.yaml", named("a", "busybox:1"))
	u := h.waitFor("pod a", hasPods("default/a"))
	a := u.Pods[0]
	uid1 := a.UID
	if a.Annotations[AnnotationManifest] != filepath.Join(dir, "a.yaml") || a.Annotations[AnnotationConfigSeen] == "" ||
		a.CreationTimestamp.IsZero() {
		t.Errorf("pod a annotations %v, creationTimestamp %v", a.Annotations, a.CreationTimestamp)
	}

	// modify: new UID
	h.write("a.yaml", named("a", "busybox:2"))
	u = h.waitFor("pod a with a new UID", func(u Update) bool {
		p := findPod(u, "default/a")
		return p != nil && p.UID != uid1
	})
	if img := findPod(u, "default/a").Spec.Containers[0].Image; img != "busybox:2" {
		t.Errorf("image = %s", img)
	}

	// rename into place
	tmp := filepath.Join(dir, ".b.yaml.tmp")
	if err := os.WriteFile(tmp, []byte(named("b", "busybox:1")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "b.yaml")); err != nil {
		t.Fatal(err)
	}
	h.waitFor("pods a and b", hasPods("default/a", "default/b"))

	// dotfiles, editor files, other extensions and subdirectories are ignored
	for _, name := range []string{".hidden.yaml", "c.yaml~", "c.yaml.swp", "#c.yaml#", ".#c.yaml", "notes.txt"} {
		h.write(name, named("ignored", "busybox"))
	}
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	h.write("sub/d.yaml", named("ignored", "busybox"))
	h.write("e.yml", named("e", "busybox"))
	u = h.waitFor("pod e", func(u Update) bool { return findPod(u, "default/e") != nil })
	if got := podNames(u); !slices.Equal(got, []string{"default/a", "default/b", "default/e"}) {
		t.Errorf("pods = %v (ignored files were read?)", got)
	}

	// a broken file is an error, the other pods stay
	h.write("broken.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: broken}\nspec: {containers: [{name: c}]}\n")
	u = h.waitFor("the error of broken.yaml", func(u Update) bool { return len(u.Errors) > 0 })
	want := filepath.Join(dir, "broken.yaml") + ": spec.containers[0].image: Required value"
	if got := errStrings(u.Errors); !slices.Equal(got, []string{want}) {
		t.Errorf("errors = %q, want %q", got, want)
	}
	if got := podNames(u); !slices.Equal(got, []string{"default/a", "default/b", "default/e"}) {
		t.Errorf("pods = %v", got)
	}

	// a duplicate in a later file loses, with an error naming both files
	aUID := findPod(u, "default/a").UID
	h.write("z.yaml", named("a", "busybox:3"))
	u = h.waitFor("the duplicate error", func(u Update) bool { return len(u.Errors) == 2 })
	wantDup := fmt.Sprintf(`%s: duplicate pod "default/a": already defined in %s`, filepath.Join(dir, "z.yaml"), filepath.Join(dir, "a.yaml"))
	if got := u.Errors[1].Error(); got != wantDup {
		t.Errorf("error = %q, want %q", got, wantDup)
	}
	if p := findPod(u, "default/a"); p.UID != aUID {
		t.Errorf("the duplicate replaced the first pod")
	}

	// remove: the pod goes (here the duplicate takes over, then goes too)
	if err := os.Remove(filepath.Join(dir, "a.yaml")); err != nil {
		t.Fatal(err)
	}
	u = h.waitFor("z.yaml's pod a", func(u Update) bool {
		p := findPod(u, "default/a")
		return p != nil && p.Spec.Containers[0].Image == "busybox:3"
	})
	if err := os.Remove(filepath.Join(dir, "z.yaml")); err != nil {
		t.Fatal(err)
	}
	h.waitFor("pod a gone", hasPods("default/b", "default/e"))
}

func TestRescanWithoutWatch(t *testing.T) {
	dir := t.TempDir()
	h := startSource(t, Config{Dir: dir, NodeName: node, Rescan: 20 * time.Millisecond, DisableWatch: true})
	h.waitFor("the first snapshot", func(Update) bool { return true })

	h.write("a.yaml", named("a", "busybox:1"))
	u := h.waitFor("pod a", hasPods("default/a"))
	uid := u.Pods[0].UID
	h.write("a.yaml", named("a", "busybox:2"))
	h.waitFor("a new UID", func(u Update) bool { return len(u.Pods) == 1 && u.Pods[0].UID != uid })
	if err := os.Remove(filepath.Join(dir, "a.yaml")); err != nil {
		t.Fatal(err)
	}
	h.waitFor("no pods", hasPods())
}

// The manifests directory removed, or renamed away, stops its pods at
// once, as deleting its files does, and says why; the agent does not make
// it again (the kubelet does not: a directory being replaced must not meet
// an empty one in its way), and once it is back its pods come back.
func TestDirectoryRemovedAndRecreated(t *testing.T) {
	for _, how := range []string{"removed", "renamed"} {
		t.Run(how, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "m")
			// An hour's rescan: the watch alone must notice both changes.
			h := startSource(t, Config{Dir: dir, NodeName: node, Rescan: time.Hour})
			h.waitFor("the first snapshot", func(Update) bool { return true })
			h.write("a.yaml", named("a", "busybox"))
			h.waitFor("pod a", hasPods("default/a"))

			var err error
			if how == "removed" {
				err = os.RemoveAll(dir)
			} else {
				err = os.Rename(dir, filepath.Join(parent, "old"))
			}
			if err != nil {
				t.Fatal(err)
			}
			// RemoveAll deletes the file before the directory: an update
			// with no pods and no error may come first.
			noPods := hasPods()
			u := h.waitFor("no pods and the directory said missing", func(u Update) bool {
				return noPods(u) && len(u.Errors) > 0
			})
			if len(u.Errors) != 1 || u.Errors[0].File != dir || !strings.Contains(u.Errors[0].Error(), "manifest directory is missing") {
				t.Errorf("errors %v, want one saying the directory is missing", errStrings(u.Errors))
			}
			time.Sleep(3 * rewatchEvery)
			if _, err := os.Stat(dir); err == nil {
				t.Fatal("the source made the directory again")
			}

			if how == "removed" {
				err = os.Mkdir(dir, 0o755)
			} else {
				err = os.Rename(filepath.Join(parent, "old"), dir)
			}
			if err != nil {
				t.Fatal(err)
			}
			if how == "removed" {
				h.write("a.yaml", named("a", "busybox"))
			}
			u = h.waitFor("pod a back", hasPods("default/a"))
			if len(u.Errors) != 0 {
				t.Errorf("errors %v once the directory is back", errStrings(u.Errors))
			}
			h.write("b.yaml", named("b", "busybox"))
			h.waitFor("pod b, seen by the new watch", hasPods("default/a", "default/b"))
		})
	}
}

func TestMultiDocFileInDirectory(t *testing.T) {
	dir := t.TempDir()
	h := startSource(t, Config{Dir: dir, NodeName: node})
	h.waitFor("the first snapshot", func(Update) bool { return true })
	h.write("all.yaml", string(readTestdata(t, "services-and-pod.yaml")))
	u := h.waitFor("pod web", hasPods("default/web"))
	// The Services and the Deployment are delivered; nothing is skipped.
	if len(u.Skipped) != 0 || len(u.Deployments) != 1 || u.Deployments[0].CreationTimestamp.IsZero() {
		t.Errorf("skipped = %+v, deployments = %v", u.Skipped, u.Deployments)
	}
	if got := serviceNames(u); !slices.Equal(got, []string{"default/mydb", "default/myservice"}) {
		t.Errorf("services = %v", got)
	}
}

func TestRunFailsWhenDirectoryCannotBeCreated(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s := New(zaptest.NewLogger(t), Config{Dir: filepath.Join(file, "manifests"), NodeName: node})
	if err := s.Run(context.Background(), make(chan Update, 1)); err == nil || !strings.Contains(err.Error(), "create manifest directory") {
		t.Fatalf("Run = %v", err)
	}
}

// The tests below drive the Source's steps directly, with a fake clock.

func newTestSource(t *testing.T, dir string) (*Source, *time.Time) {
	s := New(zaptest.NewLogger(t), Config{Dir: dir, NodeName: node})
	clock := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	s.now = func() time.Time { return clock }
	return s, &clock
}

func TestIdenticalSnapshotIsNotResent(t *testing.T) {
	dir := t.TempDir()
	s, _ := newTestSource(t, dir)
	out := make(chan Update, 10)
	ctx := context.Background()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	step := func() {
		s.rescan(context.Background())
		if err := s.emit(ctx, out); err != nil {
			t.Fatal(err)
		}
	}

	write("a.yaml", named("a", "busybox"))
	write("bad.yaml", "kind: [")
	step()
	if len(out) != 1 {
		t.Fatalf("first snapshot not sent")
	}
	write("a.yaml", "# same pod, new comment\n"+named("a", "busybox"))
	step()
	if len(out) != 1 {
		t.Errorf("an identical snapshot was sent again")
	}
	write("bad.yaml", "kind: Pod\n")
	step()
	if len(out) != 2 {
		t.Errorf("a changed error was not sent")
	}
	// An explicit UID does not hide an edit.
	write("a.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: a, uid: fixed}\nspec: {containers: [{name: c, image: busybox}]}\n")
	step()
	write("a.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: a, uid: fixed}\nspec: {containers: [{name: c, image: busybox:2}]}\n")
	step()
	if len(out) != 4 {
		t.Errorf("got %d snapshots, want 4", len(out))
	}
}

func TestCreationTimestampIsFirstSeen(t *testing.T) {
	dir := t.TempDir()
	s, clock := newTestSource(t, dir)
	path := filepath.Join(dir, "a.yaml")
	if err := os.WriteFile(path, []byte(named("a", "busybox")), 0o644); err != nil {
		t.Fatal(err)
	}
	s.rescan(context.Background())
	t0 := *clock
	u := s.snapshot()
	uid := u.Pods[0].UID
	check := func(u Update, wantUID bool, want time.Time) {
		t.Helper()
		p := u.Pods[0]
		if (p.UID == uid) != wantUID {
			t.Errorf("uid %s (old %s)", p.UID, uid)
		}
		if !p.CreationTimestamp.Time.Equal(want) || p.Annotations[AnnotationConfigSeen] != want.Format(time.RFC3339Nano) {
			t.Errorf("creationTimestamp %v, seen %s, want %v", p.CreationTimestamp, p.Annotations[AnnotationConfigSeen], want)
		}
	}
	check(u, true, t0)

	*clock = clock.Add(time.Minute)
	s.rescan(context.Background())
	check(s.snapshot(), true, t0)

	if err := os.WriteFile(path, []byte(named("a", "busybox:2")), 0o644); err != nil {
		t.Fatal(err)
	}
	s.rescan(context.Background())
	check(s.snapshot(), false, *clock)
}

// A pod whose file was not read again is handed over as the same copy in
// the next snapshot (the pod workers then skip comparing it); an edited
// one as a new copy, and the old copy keeps what it said.
func TestUnchangedPodKeepsItsCopy(t *testing.T) {
	dir := t.TempDir()
	s, clock := newTestSource(t, dir)
	path := filepath.Join(dir, "a.yaml")
	if err := os.WriteFile(path, []byte(named("a", "busybox")), 0o644); err != nil {
		t.Fatal(err)
	}
	s.rescan(context.Background())
	first := s.snapshot().Pods[0]
	t0 := first.CreationTimestamp

	*clock = clock.Add(time.Minute)
	if again := s.snapshot().Pods[0]; again != first {
		t.Errorf("the unchanged pod was copied anew")
	}
	if err := os.WriteFile(path, []byte(named("a", "busybox:2")), 0o644); err != nil {
		t.Fatal(err)
	}
	s.rescan(context.Background())
	edited := s.snapshot().Pods[0]
	if edited == first {
		t.Fatalf("the edited pod is the old copy")
	}
	if got := edited.Spec.Containers[0].Image; !strings.HasSuffix(got, "busybox:2") {
		t.Errorf("edited pod's image %q", got)
	}
	if got := first.Spec.Containers[0].Image; strings.HasSuffix(got, "busybox:2") || !first.CreationTimestamp.Equal(&t0) {
		t.Errorf("the old copy changed: image %q, created %v (was %v)", got, first.CreationTimestamp, t0)
	}
}

func TestDebounceReadsOnlyQuietPaths(t *testing.T) {
	dir := t.TempDir()
	s, clock := newTestSource(t, dir)
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	for _, p := range []string{a, b} {
		if err := os.WriteFile(p, []byte(named(strings.TrimSuffix(filepath.Base(p), ".yaml"), "busybox")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s.pending[a] = clock.Add(-time.Millisecond)
	s.pending[b] = clock.Add(time.Second)
	s.readDue(context.Background())
	if _, ok := s.files[a]; !ok {
		t.Errorf("a quiet path was not read")
	}
	if _, ok := s.files[b]; ok {
		t.Errorf("a busy path was read")
	}
	// A rescan keeps the last read of a busy path (here: none).
	s.rescan(context.Background())
	if _, ok := s.files[b]; ok {
		t.Errorf("the rescan read a path that is still being written")
	}
	var uids []types.UID
	for _, p := range s.snapshot().Pods {
		uids = append(uids, p.UID)
	}
	if len(uids) != 1 {
		t.Errorf("pods = %v", uids)
	}
}

// A file renamed into place and a removal are read at once; a write in
// place waits for the debounce (an hour here).
func TestWholeChangesAreReadAtOnce(t *testing.T) {
	dir := t.TempDir()
	h := startSource(t, Config{Dir: dir, NodeName: node, Rescan: time.Hour, Debounce: time.Hour})
	h.waitFor("the first snapshot", func(Update) bool { return true })

	renameIn := func(name, content string) {
		t.Helper()
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	renameIn("a.yaml", named("a", "busybox:1"))
	u := h.waitFor("pod a", hasPods("default/a"))
	uid := u.Pods[0].UID

	// A write in place: its events come before b's rename, so b's
	// snapshot shows whether it was read.
	h.write("a.yaml", named("a", "busybox:2"))
	renameIn("b.yaml", named("b", "busybox:1"))
	u = h.waitFor("pod b", hasPods("default/a", "default/b"))
	if got := findPod(u, "default/a").UID; got != uid {
		t.Errorf("a write in place was read before the debounce")
	}

	if err := os.Remove(filepath.Join(dir, "b.yaml")); err != nil {
		t.Fatal(err)
	}
	h.waitFor("pod b gone", hasPods("default/a"))
}

// Which events are read at once and which wait for the debounce.
func TestOnEvent(t *testing.T) {
	dir := t.TempDir()
	full, empty, gone := filepath.Join(dir, "full.yaml"), filepath.Join(dir, "empty.yaml"), filepath.Join(dir, "gone.yaml")
	if err := os.WriteFile(full, []byte(named("full", "busybox")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ev   fsnotify.Event
		read bool // read at once (else pending)
	}{
		{"created with content (renamed into place)", fsnotify.Event{Name: full, Op: fsnotify.Create}, true},
		{"created empty: about to be written", fsnotify.Event{Name: empty, Op: fsnotify.Create}, false},
		{"written", fsnotify.Event{Name: full, Op: fsnotify.Write}, false},
		{"mode changed", fsnotify.Event{Name: full, Op: fsnotify.Chmod}, false},
		{"removed", fsnotify.Event{Name: gone, Op: fsnotify.Remove}, true},
		{"renamed away", fsnotify.Event{Name: gone, Op: fsnotify.Rename}, true},
		{"created and gone again", fsnotify.Event{Name: gone, Op: fsnotify.Create}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newTestSource(t, dir)
			s.files[gone] = fileResult{}
			if got := s.onEvent(context.Background(), tc.ev); got != tc.read {
				t.Fatalf("onEvent = %v, want %v", got, tc.read)
			}
			if _, pending := s.pending[tc.ev.Name]; pending == tc.read {
				t.Errorf("pending = %v", pending)
			}
			_, cached := s.files[tc.ev.Name]
			if tc.read && cached != (tc.ev.Name == full) {
				t.Errorf("after the read, cached = %v", cached)
			}
		})
	}
	s, _ := newTestSource(t, dir)
	if s.onEvent(context.Background(), fsnotify.Event{Name: filepath.Join(dir, ".full.yaml.tmp"), Op: fsnotify.Create}) || len(s.pending) != 0 {
		t.Errorf("a temp file was taken")
	}
}

// A rescan that reads the same bytes reuses their last parse; other bytes,
// even of the same length, are parsed again.
func TestRescanReusesParseOfUnchangedFile(t *testing.T) {
	dir := t.TempDir()
	s, _ := newTestSource(t, dir)
	path := filepath.Join(dir, "a.yaml")
	write := func(content string) {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pod := func() *v1.Pod {
		t.Helper()
		s.rescan(context.Background())
		res := s.files[path]
		if len(res.pods) != 1 {
			t.Fatalf("got %d pods from %s, want 1 (errors: %v)", len(res.pods), path, res.errs)
		}
		return res.pods[0]
	}

	write(named("a", "busybox:1"))
	first := pod()
	if again := pod(); again != first {
		t.Errorf("unchanged file parsed again")
	}
	write(named("a", "busybox:2"))
	changed := pod()
	if changed == first {
		t.Fatalf("changed file (same length) not parsed again")
	}
	if got := changed.Spec.Containers[0].Image; got != "busybox:2" {
		t.Errorf("image after the edit: %q, want busybox:2", got)
	}
}
