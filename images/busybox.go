// Package images builds the lab's container images from binaries on the
// host, so that the lab runs without a registry. One file per image.
package images

import (
	"context"
	"debug/elf"
	"fmt"
	"io/fs"
	"os/exec"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/minikubelet/minikubelet/imagebuild"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Names the busybox image gets when Busybox is given none.
const (
	BusyboxLatest = "docker.io/library/busybox:latest"
	Busybox136    = "docker.io/library/busybox:1.36"
)

// BusyboxPath is where Debian's busybox-static package installs busybox.
const BusyboxPath = "/bin/busybox"

// defaultPath is the PATH of docker's busybox image.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// isAppletDir tells the directories applets are linked in; busybox may list
// others (linuxrc at the root), which an image has no use for.
func isAppletDir(dir string) bool {
	switch dir {
	case "bin", "sbin", "usr/bin", "usr/sbin":
		return true
	}
	return false
}

// Busybox builds the lab's busybox image from Debian's busybox-static binary:
// /bin/busybox, a symlink to it for every applet it was built with, in the
// directory busybox itself names for it, a minimal /etc/passwd and
// /etc/group (root, nobody), /tmp, /root, /home and /var. Cmd is ["sh"], as in
// docker's busybox image. Names default to BusyboxLatest and Busybox136.
//
// The binary must be static (it is the only file in the image) and runnable
// on this host, which is asked for its applet list.
func Busybox(busyboxPath string, names ...string) (imagebuild.Image, error) {
	if err := checkStatic(busyboxPath); err != nil {
		return imagebuild.Image{}, fmt.Errorf("busybox image from %s: %w", busyboxPath, err)
	}
	applets, err := busyboxApplets(busyboxPath)
	if err != nil {
		return imagebuild.Image{}, fmt.Errorf("busybox image from %s: %w", busyboxPath, err)
	}
	if len(names) == 0 {
		names = []string{BusyboxLatest, Busybox136}
	}

	files := []imagebuild.File{
		{Path: "/bin/busybox", Mode: 0o755, Source: busyboxPath},
		{Path: "/etc/passwd", Mode: 0o644, Data: []byte(
			"root:x:0:0:root:/root:/bin/sh\n" +
				"nobody:x:65534:65534:nobody:/home:/bin/false\n")},
		{Path: "/etc/group", Mode: 0o644, Data: []byte(
			"root:x:0:\n" +
				"nobody:x:65534:\n")},
		{Path: "/tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
		{Path: "/root", Mode: fs.ModeDir | 0o700},
		{Path: "/home", Mode: fs.ModeDir | 0o755},
		{Path: "/var", Mode: fs.ModeDir | 0o755},
	}
	for _, a := range applets {
		files = append(files, imagebuild.File{Path: a, Mode: fs.ModeSymlink | 0o777, Link: "/bin/busybox"})
	}
	return imagebuild.Image{
		Names:  names,
		Layers: [][]imagebuild.File{files},
		Config: ocispec.ImageConfig{
			Cmd: []string{"sh"},
			Env: []string{defaultPath},
		},
	}, nil
}

// checkStatic refuses a dynamically linked binary, which would fail in an
// image that has no loader or libc.
func checkStatic(binPath string) error {
	f, err := elf.Open(binPath)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; install busybox-static", binPath)
		}
	}
	return nil
}

// busyboxApplets returns the absolute path of every applet the binary has,
// sorted, from `busybox --list-full`, or in /bin from `busybox --list` when
// the binary was built without full listing.
func busyboxApplets(binPath string) ([]string, error) {
	// Listing applets is instant; the timeout only guards against a binary
	// that is not busybox at all.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, fullErr := exec.CommandContext(ctx, binPath, "--list-full").Output()
	full := fullErr == nil
	if !full {
		var err error
		if out, err = exec.CommandContext(ctx, binPath, "--list").Output(); err != nil {
			return nil, fmt.Errorf("list applets: --list-full: %v; --list: %w", fullErr, err)
		}
	}
	seen := map[string]bool{}
	var applets []string
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		rel := path.Join("bin", line)
		if full {
			rel = path.Clean(line)
		}
		if !isAppletDir(path.Dir(rel)) || path.Base(rel) == "busybox" {
			continue
		}
		p := "/" + rel
		if !seen[p] {
			seen[p] = true
			applets = append(applets, p)
		}
	}
	if !seen["/bin/sh"] {
		return nil, fmt.Errorf("%s has no sh applet", binPath)
	}
	sort.Strings(applets)
	return applets, nil
}
