//go:build integration

package images_test

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/minikubelet/minikubelet/imagebuild"
	"github.com/minikubelet/minikubelet/images"
	"github.com/minikubelet/minikubelet/internal/dockerarchive"
	"github.com/minikubelet/minikubelet/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestBusyboxRuns imports the busybox image in both archive kinds the agent
// accepts and runs the applets the lab's pods use. Nothing touches the
// network: each network applet only prints its usage.
func TestBusyboxRuns(t *testing.T) {
	env := testenv.New(t)
	for _, kind := range []struct {
		name  string
		write func(io.Writer, ...imagebuild.Image) error
	}{
		{"oci", imagebuild.WriteOCIArchive},
		{"docker", dockerarchive.Write},
	} {
		t.Run(kind.name, func(t *testing.T) {
			if _, err := os.Stat(images.BusyboxPath); err != nil {
				t.Skipf("needs %s (busybox-static)", images.BusyboxPath)
			}
			img, err := images.Busybox(images.BusyboxPath, "lab.test/busybox-"+kind.name+":1.36")
			if err != nil {
				t.Fatal(err)
			}
			ref := img.Names[0]
			var archive bytes.Buffer
			if err := kind.write(&archive, img); err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			size, start := archive.Len(), time.Now()
			if _, err := env.Runtime.ImportArchive(ctx, &archive); err != nil {
				t.Fatal(err)
			}
			t.Logf("busybox %s archive (%d bytes) imported in %v", kind.name, size, time.Since(start))

			// The image's default command: sh, reading an empty stdin.
			if res := env.Run(t, ctx, ref); res.ExitCode != 0 || res.Output != "" {
				t.Errorf("default command: %+v, want exit 0 and no output", res)
			}

			// The shell runs applets itself whatever PATH holds (busybox's
			// standalone shell); which(1) proves the links are there.
			script := `set -e
echo hi
sleep 0
which sh sleep nslookup wget nc httpd
nslookup 2>&1 | head -1
wget --help 2>&1 | head -1
nc --help 2>&1 | head -1
httpd --help 2>&1 | head -1
id
ls -ld /tmp | cut -c1-10
echo "PATH=$PATH"`
			res := env.Run(t, ctx, ref, "sh", "-c", script)
			if res.ExitCode != 0 {
				t.Fatalf("script exited %d:\n%s", res.ExitCode, res.Output)
			}
			lines := strings.Split(strings.TrimSuffix(res.Output, "\n"), "\n")
			want := []string{
				"hi",
				"/bin/sh", "/bin/sleep", "/usr/bin/nslookup", "/usr/bin/wget", "/usr/bin/nc", "/usr/sbin/httpd",
				"BusyBox", "BusyBox", "BusyBox", "BusyBox",
				"uid=0(root) gid=0(root) groups=0(root)",
				"drwxrwxrwt",
				"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			}
			if len(lines) != len(want) {
				t.Fatalf("output has %d lines, want %d:\n%s", len(lines), len(want), res.Output)
			}
			for i, w := range want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("line %d = %q, want it to start with %q", i+1, lines[i], w)
				}
			}
		})
	}
}
