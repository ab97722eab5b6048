// Package testhost reads what the agent leaves on the host, for the tests
// and benchmarks that check nothing is left. It reads the host on its own
// rather than asking the agent's packages, which it checks; the agent does
// not link it.
package testhost

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// cgroupMount is where the cgroup file systems are mounted.
const cgroupMount = "/sys/fs/cgroup"

// PodCgroupDirs lists the pod cgroups ("pod<uid>" directories, at any
// depth: kubepods/, kubepods/burstable/, kubepods/besteffort/) under the
// agent's cgroup root, in every hierarchy (one on cgroup v2, one per
// controller on v1).
func PodCgroupDirs(root string) []string { return podCgroupDirs(cgroupMount, root) }

func podCgroupDirs(mount, root string) []string {
	var bases []string
	if _, err := os.Stat(filepath.Join(mount, "cgroup.controllers")); err == nil {
		bases = []string{filepath.Join(mount, root)}
	} else {
		bases, _ = filepath.Glob(filepath.Join(mount, "*", root))
	}
	var out []string
	for _, base := range bases {
		_ = filepath.WalkDir(base, func(p string, e fs.DirEntry, err error) error {
			if err != nil || !e.IsDir() {
				return nil
			}
			if strings.HasPrefix(e.Name(), "pod") && p != base {
				out = append(out, p)
				return filepath.SkipDir // its containers' cgroups
			}
			return nil
		})
	}
	sort.Strings(out)
	return out
}
