package images

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/minikubelet/minikubelet/imagebuild"
	"github.com/minikubelet/minikubelet/internal/gobuild"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// MyAppName is the repository of the lab's web app; the lab writes
// "image: myapp:v1".
const MyAppName = "docker.io/library/myapp"

// MyAppVersions are the versions the lab uses.
var MyAppVersions = []string{"v1", "v2"}

// The server's configuration, as the lab's nginx-based image has it; the
// lab edits conf.d/default.conf with vi and reloads.
var (
	//go:embed myapp/conf/nginx.conf
	nginxConf []byte
	//go:embed myapp/conf/default.conf
	nginxDefaultConf []byte
)

// errorPage50x is nginx's stock /usr/share/nginx/html/50x.html, which
// default.conf's error_page points at.
const errorPage50x = `<!DOCTYPE html>
<html>
<head>
<title>Error</title>
</head>
<body>
<h1>An error occurred.</h1>
<p>Sorry, the page you are looking for is currently unavailable.<br/>
Please try again later.</p>
</body>
</html>
`

// dockerEntrypoint is the entrypoint of the nginx images: it runs the
// command it is given, so that "kubectl run --image=myapp:v1 -- sh" runs a
// shell, and the default command execs the server as PID 1.
const dockerEntrypoint = `#!/bin/sh
# Runs the container's command; the default one is the web server.
set -e
exec "$@"
`

// MyApp builds myapp:VERSION: the busybox image's layer (a shell, vi, ps,
// wget for "kubectl exec -it myapp-pod -- sh") plus a layer with the web
// app installed as /usr/sbin/nginx and its nginx-style configuration.
// binary is the app built for version (see BuildMyApp). Names default to
// docker.io/library/myapp:VERSION.
func MyApp(busyboxPath, binary, version string, names ...string) (imagebuild.Image, error) {
	if version == "" {
		return imagebuild.Image{}, errors.New("myapp image: no version")
	}
	if err := checkStatic(binary); err != nil {
		return imagebuild.Image{}, fmt.Errorf("myapp image from %s: %w", binary, err)
	}
	base, err := Busybox(busyboxPath)
	if err != nil {
		return imagebuild.Image{}, fmt.Errorf("myapp image: %w", err)
	}
	if len(names) == 0 {
		names = []string{MyAppName + ":" + version}
	}
	app := []imagebuild.File{
		{Path: "/usr/sbin/nginx", Mode: 0o755, Source: binary},
		{Path: "/docker-entrypoint.sh", Mode: 0o755, Data: []byte(dockerEntrypoint)},
		{Path: "/etc/nginx/nginx.conf", Mode: 0o644, Data: nginxConf},
		{Path: "/etc/nginx/conf.d/default.conf", Mode: 0o644, Data: nginxDefaultConf},
		{Path: "/usr/share/nginx/html/50x.html", Mode: 0o644, Data: []byte(errorPage50x)},
		// The lab's `ps` shows workers running as nginx; keep the user
		// the nginx images have, with busybox's users.
		{Path: "/etc/passwd", Mode: 0o644, Data: []byte(
			"root:x:0:0:root:/root:/bin/sh\n" +
				"nginx:x:101:101:nginx:/var/cache/nginx:/sbin/nologin\n" +
				"nobody:x:65534:65534:nobody:/home:/bin/false\n")},
		{Path: "/etc/group", Mode: 0o644, Data: []byte(
			"root:x:0:\n" +
				"nginx:x:101:nginx\n" +
				"nobody:x:65534:\n")},
		{Path: "/run", Mode: fs.ModeDir | 0o755},
		{Path: "/var/cache/nginx", Mode: fs.ModeDir | 0o755},
		{Path: "/var/log/nginx", Mode: fs.ModeDir | 0o755},
	}
	return imagebuild.Image{
		Names:  names,
		Layers: [][]imagebuild.File{base.Layers[0], app},
		Config: ocispec.ImageConfig{
			Entrypoint:   []string{"/docker-entrypoint.sh"},
			Cmd:          []string{"nginx", "-g", "daemon off;"},
			Env:          append(append([]string{}, base.Config.Env...), "MYAPP_VERSION="+version),
			ExposedPorts: map[string]struct{}{"80/tcp": {}},
			WorkingDir:   "/",
			// nginx images stop gracefully on SIGQUIT.
			StopSignal: "SIGQUIT",
			Labels: map[string]string{
				"org.opencontainers.image.title":       "myapp",
				"org.opencontainers.image.version":     version,
				"org.opencontainers.image.description": "minikubelet's stand-in for the lab's ikubernetes/myapp web app",
			},
		},
	}, nil
}

// BuildMyApp builds the web app (./images/myapp of this module) for version
// into outPath, static and stripped (gobuild.Static), with the version the
// index page shows set by -ldflags -X. It needs this module's source and a
// go toolchain.
func BuildMyApp(ctx context.Context, version, outPath string) error {
	if err := gobuild.Static(ctx, "./images/myapp", outPath, "-X main.version="+version); err != nil {
		return fmt.Errorf("build myapp %s: %w", version, err)
	}
	return nil
}
