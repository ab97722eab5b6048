package nodecap

import (
	"os"
	"path/filepath"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Each huge page size the kernel lists is a resource, named as the
// kubelet names it, holding the bytes reserved in it; memory held in huge
// pages is not allocatable.
func TestHugePagesAndAllocatable(t *testing.T) {
	dir := t.TempDir()
	for name, nr := range map[string]string{"hugepages-2048kB": "3\n", "hugepages-1048576kB": "0\n", "hugepages-64kB": "", "other": "1"} {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "nr_hugepages"), []byte(nr), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := hugePages(dir)
	want := map[v1.ResourceName]string{"hugepages-2Mi": "6Mi", "hugepages-1Gi": "0", "hugepages-64Ki": "0"}
	if len(got) != len(want) {
		t.Errorf("hugePages = %v, want %v", got, want)
	}
	for name, w := range want {
		if q, ok := got[name]; !ok || q.Cmp(resource.MustParse(w)) != 0 {
			t.Errorf("%s = %v, want %s", name, got[name], w)
		}
	}
	capacity := v1.ResourceList{v1.ResourceMemory: resource.MustParse("1Gi")}
	for name, q := range got {
		capacity[name] = q
	}
	alloc := Allocatable(capacity)
	if m := alloc[v1.ResourceMemory]; m.Cmp(resource.MustParse("1018Mi")) != 0 {
		t.Errorf("allocatable memory %v, want 1018Mi", m.String())
	}
	if m := capacity[v1.ResourceMemory]; m.Cmp(resource.MustParse("1Gi")) != 0 {
		t.Errorf("capacity changed: memory %v", m.String())
	}
}
