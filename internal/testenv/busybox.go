package testenv

import (
	"io/fs"
	"os/exec"
	"strings"

	"github.com/minikubelet/minikubelet/imagebuild"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// busyboxImage builds a busybox image from the host's static busybox.
// TEMPORARY: stands in for images.Busybox until that package lands.
func busyboxImage(binary string) (imagebuild.Image, error) {
	out, err := exec.Command(binary, "--list").Output()
	if err != nil {
		return imagebuild.Image{}, err
	}
	files := []imagebuild.File{
		{Path: "/bin/busybox", Mode: 0o755, Source: binary},
		{Path: "/tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
		{Path: "/etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n")},
		{Path: "/etc/group", Mode: 0o644, Data: []byte("root:x:0:\nnogroup:x:65534:\n")},
	}
	for _, name := range strings.Fields(string(out)) {
		if name == "busybox" {
			continue
		}
		files = append(files, imagebuild.File{Path: "/bin/" + name, Mode: fs.ModeSymlink | 0o777, Link: "busybox"})
	}
	return imagebuild.Image{
		Names:  []string{"docker.io/library/busybox:latest", "docker.io/library/busybox:1.36"},
		Layers: [][]imagebuild.File{files},
		Config: ocispec.ImageConfig{Cmd: []string{"sh"}, Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
	}, nil
}
