package images

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/minikubelet/minikubelet/imagebuild"
)

func layerFiles(layer []imagebuild.File) map[string]imagebuild.File {
	files := map[string]imagebuild.File{}
	for _, f := range layer {
		files[f.Path] = f
	}
	return files
}

func TestMyApp(t *testing.T) {
	needBusybox(t)
	// Any static binary stands in for the web app here.
	img, err := MyApp(BusyboxPath, BusyboxPath, "v2")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"docker.io/library/myapp:v2"}; !reflect.DeepEqual(img.Names, want) {
		t.Errorf("names = %v, want %v", img.Names, want)
	}
	c := img.Config
	if !reflect.DeepEqual(c.Entrypoint, []string{"/docker-entrypoint.sh"}) || !reflect.DeepEqual(c.Cmd, []string{"nginx", "-g", "daemon off;"}) {
		t.Errorf("entrypoint %q cmd %q", c.Entrypoint, c.Cmd)
	}
	if _, ok := c.ExposedPorts["80/tcp"]; !ok || len(c.ExposedPorts) != 1 {
		t.Errorf("exposed ports = %v, want 80/tcp", c.ExposedPorts)
	}
	if c.StopSignal != "SIGQUIT" || c.WorkingDir != "/" {
		t.Errorf("stop signal %q working dir %q", c.StopSignal, c.WorkingDir)
	}
	if !reflect.DeepEqual(c.Env, []string{defaultPath, "MYAPP_VERSION=v2"}) {
		t.Errorf("env = %v", c.Env)
	}

	// The busybox layer is shared with the busybox image, byte for byte.
	base, err := Busybox(BusyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Layers) != 2 || !reflect.DeepEqual(img.Layers[0], base.Layers[0]) {
		t.Fatalf("want the busybox layer then the app's, got %d layers", len(img.Layers))
	}
	app := layerFiles(img.Layers[1])
	for _, p := range []string{"/usr/sbin/nginx", "/docker-entrypoint.sh", "/etc/nginx/nginx.conf", "/etc/nginx/conf.d/default.conf", "/usr/share/nginx/html/50x.html", "/etc/passwd", "/etc/group"} {
		if _, ok := app[p]; !ok {
			t.Errorf("app layer lacks %s", p)
		}
	}
	if f := app["/usr/sbin/nginx"]; f.Source != BusyboxPath || f.Mode != 0o755 {
		t.Errorf("/usr/sbin/nginx = %+v", f)
	}
	if f := app["/run"]; f.Mode != fs.ModeDir|0o755 {
		t.Errorf("/run = %+v", f)
	}
	if !strings.Contains(string(app["/etc/nginx/conf.d/default.conf"].Data), "location = /hostname.html {\n        alias /etc/hostname;\n    }") {
		t.Errorf("default.conf lacks the hostname.html location:\n%s", app["/etc/nginx/conf.d/default.conf"].Data)
	}
	if !strings.Contains(string(app["/etc/nginx/nginx.conf"].Data), "pid        /run/nginx.pid;") {
		t.Errorf("nginx.conf does not put the pid file at /run/nginx.pid")
	}
	if !strings.Contains(string(app["/etc/passwd"].Data), "\nnginx:x:101:101:") {
		t.Errorf("/etc/passwd lacks the nginx user")
	}
}

func TestMyAppRefusesUnfitInput(t *testing.T) {
	needBusybox(t)
	if _, err := MyApp(BusyboxPath, BusyboxPath, ""); err == nil {
		t.Error("no version accepted")
	}
	dynamic := filepath.Join(t.TempDir(), "dyn")
	src, err := os.ReadFile("/bin/sh")
	if err != nil {
		t.Fatalf("a dynamically linked program to refuse: %v", err)
	}
	if err := os.WriteFile(dynamic, src, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := MyApp(BusyboxPath, dynamic, "v1"); err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Errorf("dynamic app binary: err = %v", err)
	}
}

func TestParseLdd(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    []string
		wantErr string
	}{
		{
			name: "curl on Debian 12",
			out: "\tlinux-vdso.so.1 (0x00007ffd4c5f2000)\n" +
				"\tlibcurl.so.4 => /lib/x86_64-linux-gnu/libcurl.so.4 (0x00007f7a1a0f0000)\n" +
				"\tlibz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x00007f7a1a0d1000)\n" +
				"\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f7a19eef000)\n" +
				"\t/lib64/ld-linux-x86-64.so.2 (0x00007f7a1a1f7000)\n" +
				"\tlibz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x00007f7a1a0d1000)\n",
			want: []string{
				"/lib/x86_64-linux-gnu/libc.so.6",
				"/lib/x86_64-linux-gnu/libcurl.so.4",
				"/lib/x86_64-linux-gnu/libz.so.1",
				"/lib64/ld-linux-x86-64.so.2",
			},
		},
		{
			name: "arm64 loader written as a mapping",
			out:  "\tlinux-vdso.so.1 (0x0000)\n\tlibc.so.6 => /lib/aarch64-linux-gnu/libc.so.6 (0x0000)\n\t/lib/ld-linux-aarch64.so.1 => /lib/ld-linux-aarch64.so.1 (0x0000)\n",
			want: []string{"/lib/aarch64-linux-gnu/libc.so.6", "/lib/ld-linux-aarch64.so.1"},
		},
		{
			name:    "missing library",
			out:     "\tlibcurl.so.4 => not found\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x0)\n",
			wantErr: "libraries not found: libcurl.so.4",
		},
		{
			name: "static binary",
			out:  "\tstatically linked\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseLdd(tt.out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseLdd = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBusyboxPlus(t *testing.T) {
	needBusybox(t)
	if _, err := os.Stat(CurlPath); err != nil {
		t.Skipf("needs %s (curl)", CurlPath)
	}
	img, err := BusyboxPlus(BusyboxPath, CurlPath)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{BusyboxPlusLatest, BusyboxPlusCurl}; !reflect.DeepEqual(img.Names, want) {
		t.Errorf("names = %v, want %v", img.Names, want)
	}
	if len(img.Layers) != 2 {
		t.Fatalf("%d layers, want busybox's and curl's", len(img.Layers))
	}
	curl := layerFiles(img.Layers[1])
	if f := curl["/usr/bin/curl"]; f.Source != CurlPath {
		t.Errorf("/usr/bin/curl = %+v", f)
	}
	libs, err := sharedLibraries(CurlPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(curl) != len(libs)+1 {
		t.Errorf("curl layer has %d files, want curl and its %d libraries", len(curl), len(libs))
	}
	var loader bool
	for _, l := range libs {
		if _, ok := curl[l]; !ok {
			t.Errorf("curl layer lacks %s", l)
		}
		if strings.Contains(filepath.Base(l), "ld-linux") {
			loader = true
		}
	}
	if !loader {
		t.Errorf("no dynamic loader among %v", libs)
	}
	if !reflect.DeepEqual(img.Config.Cmd, []string{"sh"}) {
		t.Errorf("cmd = %v", img.Config.Cmd)
	}

	if _, err := BusyboxPlus(BusyboxPath, BusyboxPath); err == nil {
		t.Error("a static binary as curl was accepted; it has no libraries to copy")
	}
}
