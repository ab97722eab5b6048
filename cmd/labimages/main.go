// Command labimages writes the lab's images as OCI archives, one file per
// image, into a directory the agent imports at start (its --images):
//
//	busybox.tar       docker.io/library/busybox:latest and :1.36
//	busyboxplus.tar   docker.io/library/busyboxplus:latest and :curl
//	myapp-v1.tar      docker.io/library/myapp:v1
//	myapp-v2.tar      docker.io/library/myapp:v2
//
// They are built from Debian's busybox-static and curl on this host and from
// the web app in images/myapp, which it compiles with the go toolchain; no
// registry is involved. Output is deterministic, and each file is replaced
// atomically, so running it again is safe while an agent reads the directory.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/minikubelet/minikubelet/imagebuild"
	"github.com/minikubelet/minikubelet/images"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "labimages:", err)
		os.Exit(1)
	}
}

type options struct {
	out     string
	busybox string
	curl    string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("labimages", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.out, "out", "", "directory to write the image archives to (created if missing)")
	fs.StringVar(&o.busybox, "busybox", images.BusyboxPath, "static busybox binary (Debian's busybox-static)")
	fs.StringVar(&o.curl, "curl", images.CurlPath, "curl binary whose shared libraries are copied too (Debian's curl)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: labimages --out DIR [--busybox PATH] [--curl PATH]\n\nWrites the lab images as OCI archives into DIR.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return err
	}
	if o.out == "" || fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("--out DIR is required and no arguments are taken")
	}
	written, err := writeAll(ctx, o)
	for _, w := range written {
		fmt.Fprintf(stdout, "%-40s %7.1f MiB  %s\n", w.path, float64(w.size)/(1<<20), strings.Join(w.names, " "))
	}
	return err
}

// archive is one file written.
type archive struct {
	path  string
	size  int64
	names []string
}

// writeAll builds every lab image and writes one archive per image.
func writeAll(ctx context.Context, o options) ([]archive, error) {
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "labimages-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	type build struct {
		file string
		img  func() (imagebuild.Image, error)
	}
	builds := []build{
		{"busybox.tar", func() (imagebuild.Image, error) { return images.Busybox(o.busybox) }},
		{"busyboxplus.tar", func() (imagebuild.Image, error) { return images.BusyboxPlus(o.busybox, o.curl) }},
	}
	for _, v := range images.MyAppVersions {
		builds = append(builds, build{"myapp-" + v + ".tar", func() (imagebuild.Image, error) {
			bin := filepath.Join(tmp, "myapp-"+v)
			if err := images.BuildMyApp(ctx, v, bin); err != nil {
				return imagebuild.Image{}, err
			}
			return images.MyApp(o.busybox, bin, v)
		}})
	}
	var written []archive
	for _, b := range builds {
		if err := ctx.Err(); err != nil {
			return written, err
		}
		img, err := b.img()
		if err != nil {
			return written, err
		}
		a, err := writeArchive(filepath.Join(o.out, b.file), img)
		if err != nil {
			return written, err
		}
		written = append(written, a)
	}
	return written, nil
}

// writeArchive writes img as an OCI archive to name through a hidden temp
// file in the same directory (the agent skips dot files) and a rename.
func writeArchive(name string, img imagebuild.Image) (archive, error) {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return archive{}, err
	}
	defer os.Remove(f.Name()) // after a successful rename there is nothing to remove
	if err := imagebuild.WriteOCIArchive(f, img); err != nil {
		f.Close()
		return archive{}, fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return archive{}, err
	}
	if err := f.Close(); err != nil {
		return archive{}, fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(f.Name(), name); err != nil {
		return archive{}, err
	}
	fi, err := os.Stat(name)
	if err != nil {
		return archive{}, err
	}
	var names []string
	for _, n := range img.Names {
		full, err := imagebuild.NormalizeName(n)
		if err != nil {
			return archive{}, err
		}
		names = append(names, full)
	}
	return archive{path: name, size: fi.Size(), names: names}, nil
}
