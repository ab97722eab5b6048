package testhost

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func mkdirs(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPodCgroupDirs(t *testing.T) {
	const root = "minikubelet/ns"
	t.Run("v2", func(t *testing.T) {
		m := t.TempDir()
		if err := os.WriteFile(filepath.Join(m, "cgroup.controllers"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		base := filepath.Join(m, root, "kubepods")
		mkdirs(t, filepath.Join(base, "poda", "ctr1"), filepath.Join(base, "burstable", "podb"),
			filepath.Join(base, "besteffort", "podc"), filepath.Join(m, "minikubelet", "other", "kubepods", "podd"))
		want := []string{filepath.Join(base, "besteffort", "podc"), filepath.Join(base, "burstable", "podb"), filepath.Join(base, "poda")}
		if got := podCgroupDirs(m, root); !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
	t.Run("v1", func(t *testing.T) {
		m := t.TempDir()
		mkdirs(t, filepath.Join(m, "cpu", root, "kubepods", "poda"), filepath.Join(m, "memory", root, "kubepods", "burstable", "poda"))
		want := []string{filepath.Join(m, "cpu", root, "kubepods", "poda"), filepath.Join(m, "memory", root, "kubepods", "burstable", "poda")}
		if got := podCgroupDirs(m, root); !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
}
