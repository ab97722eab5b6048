package runtime

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

// PodDirUIDs finds a pod by its state dir or its log dir, each UID once,
// and leaves out what cannot be a pod's: files, names that are no UID (a
// glob pattern would reach other pods' dirs in CleanupPod), log dirs not
// named <ns>_<name>_<uid>.
func TestPodDirUIDs(t *testing.T) {
	root, logDir := t.TempDir(), filepath.Join(t.TempDir(), "logs")
	c := &Containerd{cfg: Config{Root: root, LogDir: logDir}}
	for _, d := range []string{
		filepath.Join(root, "pods", "3f2a9c1e-0000-4000-8000-000000000001"), // state and log dir
		filepath.Join(logDir, "default_web_3f2a9c1e-0000-4000-8000-000000000001", "c"),
		filepath.Join(root, "pods", "0123456789abcdef0123456789abcdef"), // state dir only (a static pod's hash)
		filepath.Join(logDir, "kube-system_dns_uid-logs-only"),          // cut after its state dir went
		filepath.Join(root, "pods", "a*"),
		filepath.Join(root, "pods", "..x"),
		filepath.Join(logDir, "default_web_*"),
		filepath.Join(logDir, "no-uid-here"),
		filepath.Join(logDir, "_web_uid-no-namespace"),
		filepath.Join(logDir, "a_b_c_d"),
	} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{filepath.Join(root, "pods", "a-file"), filepath.Join(logDir, "default_f_uid-file")} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := c.PodDirUIDs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []types.UID{"0123456789abcdef0123456789abcdef", "3f2a9c1e-0000-4000-8000-000000000001", "uid-logs-only"}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("PodDirUIDs = %v, want %v", got, want)
	}

	// Neither dir there yet (a fresh node): nothing, and no error.
	c = &Containerd{cfg: Config{Root: t.TempDir(), LogDir: filepath.Join(t.TempDir(), "none")}}
	if got, err := c.PodDirUIDs(context.Background()); err != nil || len(got) != 0 {
		t.Errorf("PodDirUIDs of an empty node = %v, %v; want none", got, err)
	}
}
