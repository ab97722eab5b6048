package atomicdir

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// entries lists dir's top level: "name -> target" for symlinks.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range des {
		name := e.Name()
		if target, err := os.Readlink(filepath.Join(dir, name)); err == nil {
			if strings.HasPrefix(target, "..2") {
				target = "..TS"
			}
			name += " -> " + target
		} else if strings.HasPrefix(name, "..2") {
			name = "..TS"
		}
		out = append(out, name)
	}
	return out
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vol")
	steps := []struct {
		name        string
		files       map[string]File
		wantChanged bool
		wantTop     []string
		wantFiles   map[string]string // path → "mode content"
	}{
		{"first write", map[string]File{"a": {[]byte("1"), 0o644}, "sub/b": {[]byte("2"), 0o400}}, true,
			[]string{"..TS", "..data -> ..TS", "a -> ..data/a", "sub -> ..data/sub"},
			map[string]string{"a": "-rw-r--r-- 1", "sub/b": "-r-------- 2"}},
		{"same again", map[string]File{"a": {[]byte("1"), 0o644}, "sub/b": {[]byte("2"), 0o400}}, false,
			[]string{"..TS", "..data -> ..TS", "a -> ..data/a", "sub -> ..data/sub"}, nil},
		{"mode only", map[string]File{"a": {[]byte("1"), 0o600}, "sub/b": {[]byte("2"), 0o400}}, true,
			[]string{"..TS", "..data -> ..TS", "a -> ..data/a", "sub -> ..data/sub"},
			map[string]string{"a": "-rw------- 1"}},
		{"key removed and added", map[string]File{"a": {[]byte("one"), 0o644}, "c": {nil, 0o644}}, true,
			[]string{"..TS", "..data -> ..TS", "a -> ..data/a", "c -> ..data/c"},
			map[string]string{"a": "-rw-r--r-- one", "c": "-rw-r--r-- "}},
		{"empty", map[string]File{}, true, []string{"..TS", "..data -> ..TS"}, nil},
	}
	for _, s := range steps {
		hooked := ""
		changed, err := Write(dir, s.files, func(ts string) error { hooked = ts; return nil })
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if changed != s.wantChanged || (hooked != "") != changed {
			t.Errorf("%s: changed %v (hook %q), want %v", s.name, changed, hooked, s.wantChanged)
		}
		if got := entries(t, dir); !slices.Equal(got, s.wantTop) {
			t.Errorf("%s: entries %q, want %q", s.name, got, s.wantTop)
		}
		for p, want := range s.wantFiles {
			st, err := os.Stat(filepath.Join(dir, p))
			if err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			if got := st.Mode().String() + " " + read(t, filepath.Join(dir, p)); got != want {
				t.Errorf("%s: %s is %q, want %q", s.name, p, got, want)
			}
		}
	}
}

// A reader holding the old ..data target keeps reading the old set until
// it looks again: what a bind mount of the directory sees flips at once.
func TestWriteSwapsAtOnce(t *testing.T) {
	dir := t.TempDir()
	if _, err := Write(dir, map[string]File{"k": {[]byte("old"), 0o644}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(dir, map[string]File{"k": {[]byte("new"), 0o644}}, nil); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(dir, "k")); got != "new" {
		t.Errorf("k = %q", got)
	}
	if got := entries(t, dir); len(got) != 3 {
		t.Errorf("old timestamped directory left: %q", got)
	}
}

func TestWriteRefusesPaths(t *testing.T) {
	for _, p := range []string{"", "/etc/passwd", "..data", "../x", "a/../../x"} {
		if _, err := Write(t.TempDir(), map[string]File{p: {Mode: 0o644}}, nil); err == nil {
			t.Errorf("path %q accepted", p)
		}
	}
}
