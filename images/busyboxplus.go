package images

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/minikubelet/minikubelet/imagebuild"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Names of the busyboxplus image. The lab writes "image: busyboxplus", which
// is docker.io/library/busyboxplus:latest; ":curl" is the tag the image is
// best known by.
const (
	BusyboxPlusLatest = "docker.io/library/busyboxplus:latest"
	BusyboxPlusCurl   = "docker.io/library/busyboxplus:curl"
)

// CurlPath is where Debian's curl package installs curl.
const CurlPath = "/usr/bin/curl"

// BusyboxPlus builds the lab's client image: the busybox image's layer plus
// a layer with Debian's curl and exactly the shared libraries it loads (the
// closure ldd reports, the dynamic loader included), each at the path the
// host's loader found it, which is also where the loader in the image
// looks. No CA certificates: the lab curls pods and services over HTTP.
// Names default to BusyboxPlusLatest and BusyboxPlusCurl.
func BusyboxPlus(busyboxPath, curlPath string, names ...string) (imagebuild.Image, error) {
	base, err := Busybox(busyboxPath)
	if err != nil {
		return imagebuild.Image{}, fmt.Errorf("busyboxplus image: %w", err)
	}
	libs, err := sharedLibraries(curlPath)
	if err != nil {
		return imagebuild.Image{}, fmt.Errorf("busyboxplus image: %w", err)
	}
	if len(names) == 0 {
		names = []string{BusyboxPlusLatest, BusyboxPlusCurl}
	}
	curl := []imagebuild.File{{Path: "/usr/bin/curl", Mode: 0o755, Source: curlPath}}
	for _, lib := range libs {
		// The host path may be a symlink (libcurl.so.4 → libcurl.so.4.8.0);
		// the image holds the content under the name the loader asks for.
		curl = append(curl, imagebuild.File{Path: lib, Mode: 0o755, Source: lib})
	}
	return imagebuild.Image{
		Names:  names,
		Layers: [][]imagebuild.File{base.Layers[0], curl},
		Config: ocispec.ImageConfig{
			Cmd:        []string{"sh"},
			Env:        append([]string{}, base.Config.Env...),
			WorkingDir: "/",
		},
	}, nil
}

// sharedLibraries returns the absolute paths of the shared libraries binary
// needs, its dynamic loader included, sorted, as ldd resolves them on this
// host. A library ldd cannot find is an error: the image would not run.
func sharedLibraries(binary string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ldd", binary).Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", binary, err)
	}
	libs, err := parseLdd(string(out))
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", binary, err)
	}
	if len(libs) == 0 {
		return nil, fmt.Errorf("ldd %s: no shared libraries; is it dynamically linked?", binary)
	}
	return libs, nil
}

// parseLdd reads ldd's output:
//
//	linux-vdso.so.1 (0x00007ffd…)                      kernel-provided, skipped
//	libcurl.so.4 => /lib/x86_64-linux-gnu/libcurl.so.4 (0x…)
//	/lib64/ld-linux-x86-64.so.2 (0x…)                  the loader
//	libfoo.so.1 => not found                           an error
func parseLdd(out string) ([]string, error) {
	seen := map[string]bool{}
	var libs, missing []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.Contains(line, "statically linked") {
			continue
		}
		var p string
		if name, target, ok := strings.Cut(line, "=>"); ok {
			target = strings.TrimSpace(target)
			if strings.HasPrefix(target, "not found") {
				missing = append(missing, strings.TrimSpace(name))
				continue
			}
			p, _, _ = strings.Cut(target, " ")
		} else {
			p, _, _ = strings.Cut(line, " ")
		}
		if !path.IsAbs(p) {
			continue // linux-vdso.so.1, linux-gate.so.1: no file
		}
		if !seen[p] {
			seen[p] = true
			libs = append(libs, path.Clean(p))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("libraries not found: %s", strings.Join(missing, ", "))
	}
	sort.Strings(libs)
	return libs, nil
}
