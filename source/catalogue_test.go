package source

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the .want files of testdata/bad from what the parser says")

// TestBadManifests runs every manifest of testdata/bad through the real
// parser and validator. Each has a .want file beside it: the exact errors it
// must give, one a line, each naming the file and (where there is one) the
// field. None of them may yield a pod.
func TestBadManifests(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, path := range files {
		if strings.HasSuffix(path, ".want") {
			continue
		}
		n++
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			wantPath := strings.TrimSuffix(path, filepath.Ext(path)) + ".want"
			objs := Parse(path, data, node)
			got := strings.Join(errStrings(objs.Errors), "\n")
			if *update {
				if err := os.WriteFile(wantPath, []byte(got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(wantPath)
			if err != nil {
				t.Fatal(err)
			}
			if got != strings.TrimSuffix(string(want), "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", got, want)
			}
			if got == "" {
				t.Error("no error")
			}
			for _, e := range objs.Errors {
				if !strings.HasPrefix(e.Error(), path+": ") {
					t.Errorf("error does not name the file: %s", e)
				}
			}
			// A duplicate pod is the one case where a pod (the first) is
			// valid; Apply names that problem its own way.
			dup := filepath.Base(path) == "duplicate-pod.yaml"
			if len(objs.Pods) > 0 && !dup {
				t.Errorf("a pod came out of a bad manifest: %v", podKey(objs.Pods[0]))
			}
			// Apply refuses it the same way, and writes nothing.
			dir := t.TempDir()
			if _, err := Apply(context.Background(), dir, path, data, node); err == nil || (err.Error() != got && !dup) {
				t.Errorf("Apply = %v\nwant %s", err, got)
			}
			if files := readDir(t, dir); len(files) != 0 {
				t.Errorf("Apply wrote %v", files)
			}
		})
	}
	if n < 50 {
		t.Errorf("only %d bad manifests in the catalogue", n)
	}
}

// The whole catalogue in one directory, beside a good manifest: the good
// pod runs, and every bad file is reported.
func TestBadManifestsDoNotStopOthers(t *testing.T) {
	dir := t.TempDir()
	files, err := filepath.Glob("testdata/bad/*.*")
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for _, path := range files {
		if strings.HasSuffix(path, ".want") {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// Each file its own pod name, so that duplicates across files do
		// not hide the good one.
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(path)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		bad++
	}
	if err := os.WriteFile(filepath.Join(dir, "zz-good.yaml"), []byte(named("good", "busybox")), 0o644); err != nil {
		t.Fatal(err)
	}
	h := startSource(t, Config{Dir: dir, NodeName: node, Rescan: time.Hour})
	u := h.waitFor("the first snapshot", func(Update) bool { return true })
	if findPod(u, "default/good") == nil {
		t.Errorf("the good pod is missing; pods %v", podNames(u))
	}
	reported := map[string]bool{}
	for _, e := range u.Errors {
		reported[filepath.Base(e.File)] = true
	}
	if len(reported) != bad {
		t.Errorf("%d of %d bad files reported", len(reported), bad)
	}
}
