// Package nodecap reads the node's capacity and allocatable resources as
// the kubelet reports them on its Node (from cadvisor's machine info) and
// admits pods against: CPUs, memory, pods, ephemeral storage and each huge
// page size the kernel offers.
package nodecap

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// MaxPods is the kubelet's default --max-pods (maxPods).
const MaxPods = 110

// hugePagesDir lists the kernel's huge page sizes, one directory each.
const hugePagesDir = "/sys/kernel/mm/hugepages"

// Capacity is the node's capacity, with room for maxPods pods; ephemeral
// storage is that of the filesystem holding root.
func Capacity(root string, maxPods int) v1.ResourceList {
	capacity := v1.ResourceList{
		v1.ResourceCPU:    *resource.NewQuantity(int64(goruntime.NumCPU()), resource.DecimalSI),
		v1.ResourcePods:   *resource.NewQuantity(int64(maxPods), resource.DecimalSI),
		v1.ResourceMemory: *resource.NewQuantity(MemTotal(), resource.BinarySI),
	}
	var st unix.Statfs_t
	if unix.Statfs(root, &st) == nil {
		capacity[v1.ResourceEphemeralStorage] = *resource.NewQuantity(int64(st.Blocks)*st.Bsize, resource.BinarySI)
	}
	for name, q := range hugePages(hugePagesDir) {
		capacity[name] = q
	}
	return capacity
}

// Allocatable is what pods may request of capacity: all of it (no
// resources are reserved for the system here), except that memory held
// as huge pages is not memory pods can have, as the kubelet subtracts it.
func Allocatable(capacity v1.ResourceList) v1.ResourceList {
	out := capacity.DeepCopy()
	mem, ok := out[v1.ResourceMemory]
	if !ok {
		return out
	}
	for name, q := range capacity {
		if strings.HasPrefix(string(name), v1.ResourceHugePagesPrefix) {
			mem.Sub(q)
		}
	}
	if mem.Sign() < 0 {
		mem.Set(0)
	}
	out[v1.ResourceMemory] = mem
	return out
}

// hugePages reads each huge page size under dir (hugepages-<n>kB, with
// nr_hugepages): its resource (hugepages-2Mi) and the bytes reserved in
// it, 0 when none are. A size whose count cannot be read counts 0.
func hugePages(dir string) v1.ResourceList {
	out := v1.ResourceList{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		kb, ok := strings.CutPrefix(e.Name(), "hugepages-")
		if !ok {
			continue
		}
		size, err := strconv.ParseInt(strings.TrimSuffix(kb, "kB"), 10, 64)
		if err != nil || !strings.HasSuffix(kb, "kB") || size <= 0 {
			continue
		}
		b, _ := os.ReadFile(filepath.Join(dir, e.Name(), "nr_hugepages"))
		n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		name := v1.ResourceName(v1.ResourceHugePagesPrefix + resource.NewQuantity(size*1024, resource.BinarySI).String())
		out[name] = *resource.NewQuantity(n*size*1024, resource.BinarySI)
	}
	return out
}

// MemTotal is the machine's memory in bytes (/proc/meminfo's MemTotal), 0
// when unreadable.
func MemTotal() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}
