package imagebuild

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func testImage(t *testing.T) Image {
	t.Helper()
	src := filepath.Join(t.TempDir(), "tool")
	if err := os.WriteFile(src, []byte("#!/bin/sh\necho tool\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return Image{
		Names: []string{"example.com/lab/tool:v1", "tool"},
		Layers: [][]File{
			{
				{Path: "/usr/bin/tool", Mode: 0o755, Source: src},
				{Path: "/bin/t", Mode: fs.ModeSymlink | 0o777, Link: "/usr/bin/tool"},
				{Path: "/tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
				{Path: "/etc/motd", Mode: 0o644, Data: []byte("hello\n")},
			},
			{
				{Path: "/etc/motd", Mode: 0o600, Data: []byte("second\n")},
			},
		},
		Config: ocispec.ImageConfig{
			Entrypoint: []string{"/usr/bin/tool"},
			Cmd:        []string{"run"},
			Env:        []string{"PATH=/usr/bin:/bin"},
			WorkingDir: "/tmp",
			StopSignal: "SIGQUIT",
			User:       "65534",
			Labels:     map[string]string{"b": "2", "a": "1"},
		},
	}
}

// readTar returns the regular files of a tar by name, and all headers in order.
func readTar(t *testing.T, r io.Reader) (map[string][]byte, []*tar.Header) {
	t.Helper()
	files := map[string][]byte{}
	var hdrs []*tar.Header
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files, hdrs
		}
		if err != nil {
			t.Fatal(err)
		}
		hdrs = append(hdrs, hdr)
		if hdr.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[hdr.Name] = b
		}
	}
}

func unmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("unmarshal %s: %v", b, err)
	}
}

type layerEntry struct {
	typ  byte
	mode int64
	link string
	data string
}

func layerContents(t *testing.T, r io.Reader) ([]string, map[string]layerEntry) {
	t.Helper()
	files, hdrs := readTar(t, r)
	var names []string
	m := map[string]layerEntry{}
	for _, h := range hdrs {
		if h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(epoch) {
			t.Errorf("entry %s: uid %d gid %d mtime %v, want 0 0 epoch", h.Name, h.Uid, h.Gid, h.ModTime)
		}
		names = append(names, h.Name)
		m[h.Name] = layerEntry{typ: h.Typeflag, mode: h.Mode, link: h.Linkname, data: string(files[h.Name])}
	}
	return names, m
}

func TestWriteOCIArchive(t *testing.T) {
	img := testImage(t)
	var buf bytes.Buffer
	if err := WriteOCIArchive(&buf, img); err != nil {
		t.Fatal(err)
	}
	files, _ := readTar(t, &buf)

	var layout ocispec.ImageLayout
	unmarshal(t, files["oci-layout"], &layout)
	if layout.Version != ocispec.ImageLayoutVersion {
		t.Errorf("oci-layout version %q", layout.Version)
	}
	var index ocispec.Index
	unmarshal(t, files["index.json"], &index)
	var gotNames []string
	for _, d := range index.Manifests {
		gotNames = append(gotNames, d.Annotations[AnnotationImageName]+"|"+d.Annotations[ocispec.AnnotationRefName])
		if d.Digest != index.Manifests[0].Digest {
			t.Errorf("names of one image point to different manifests")
		}
		if d.Platform == nil || d.Platform.OS != "linux" || d.Platform.Architecture != Platform().Architecture {
			t.Errorf("descriptor platform %+v", d.Platform)
		}
	}
	wantNames := []string{"docker.io/library/tool:latest|latest", "example.com/lab/tool:v1|v1"}
	if !reflect.DeepEqual(gotNames, wantNames) {
		t.Errorf("index names = %v, want %v", gotNames, wantNames)
	}

	blob := func(d ocispec.Descriptor) []byte {
		t.Helper()
		b, ok := files["blobs/sha256/"+d.Digest.Encoded()]
		if !ok {
			t.Fatalf("blob %s missing", d.Digest)
		}
		if digest.FromBytes(b) != d.Digest || int64(len(b)) != d.Size {
			t.Fatalf("blob %s: content does not match descriptor", d.Digest)
		}
		return b
	}
	var manifest ocispec.Manifest
	unmarshal(t, blob(index.Manifests[0]), &manifest)
	if manifest.MediaType != ocispec.MediaTypeImageManifest || manifest.Config.MediaType != ocispec.MediaTypeImageConfig {
		t.Errorf("media types %q %q", manifest.MediaType, manifest.Config.MediaType)
	}
	var cfg ocispec.Image
	unmarshal(t, blob(manifest.Config), &cfg)
	if !reflect.DeepEqual(cfg.Config, img.Config) {
		t.Errorf("config = %+v, want %+v", cfg.Config, img.Config)
	}
	if cfg.OS != "linux" || cfg.Created == nil || !cfg.Created.Equal(epoch) || len(cfg.History) != 2 {
		t.Errorf("config os %q created %v history %d", cfg.OS, cfg.Created, len(cfg.History))
	}
	if len(manifest.Layers) != 2 || len(cfg.RootFS.DiffIDs) != 2 {
		t.Fatalf("%d layers, %d diff IDs, want 2", len(manifest.Layers), len(cfg.RootFS.DiffIDs))
	}

	var layers []map[string]layerEntry
	for i, l := range manifest.Layers {
		if l.MediaType != ocispec.MediaTypeImageLayerGzip {
			t.Errorf("layer %d media type %q", i, l.MediaType)
		}
		zr, err := gzip.NewReader(bytes.NewReader(blob(l)))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		if digest.FromBytes(raw) != cfg.RootFS.DiffIDs[i] {
			t.Errorf("layer %d: diff ID does not match the uncompressed tar", i)
		}
		names, entries := layerContents(t, bytes.NewReader(raw))
		if i == 0 {
			want := []string{"bin/", "bin/t", "etc/", "etc/motd", "tmp/", "usr/", "usr/bin/", "usr/bin/tool"}
			if !reflect.DeepEqual(names, want) {
				t.Errorf("layer 0 entries = %v, want %v", names, want)
			}
		}
		layers = append(layers, entries)
	}
	for _, c := range []struct {
		layer int
		name  string
		want  layerEntry
	}{
		{0, "usr/", layerEntry{typ: tar.TypeDir, mode: 0o755}},
		{0, "usr/bin/tool", layerEntry{typ: tar.TypeReg, mode: 0o755, data: "#!/bin/sh\necho tool\n"}},
		{0, "bin/t", layerEntry{typ: tar.TypeSymlink, mode: 0o777, link: "/usr/bin/tool"}},
		{0, "tmp/", layerEntry{typ: tar.TypeDir, mode: 0o1777}},
		{0, "etc/motd", layerEntry{typ: tar.TypeReg, mode: 0o644, data: "hello\n"}},
		{1, "etc/", layerEntry{typ: tar.TypeDir, mode: 0o755}},
		{1, "etc/motd", layerEntry{typ: tar.TypeReg, mode: 0o600, data: "second\n"}},
	} {
		if got := layers[c.layer][c.name]; got != c.want {
			t.Errorf("layer %d %s = %+v, want %+v", c.layer, c.name, got, c.want)
		}
	}
}

func TestArchivesAreDeterministic(t *testing.T) {
	img := testImage(t)
	other := Image{Names: []string{"other:1"}, Layers: [][]File{{{Path: "/x", Mode: 0o644, Data: []byte("x")}}}}
	for _, c := range []struct {
		name  string
		write func(io.Writer) error
	}{
		{"oci", func(w io.Writer) error { return WriteOCIArchive(w, img, other) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			var a, b bytes.Buffer
			if err := c.write(&a); err != nil {
				t.Fatal(err)
			}
			if err := c.write(&b); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Error("two writes of the same images differ")
			}
		})
	}
	// The order files are listed in does not matter either.
	reversed := img
	reversed.Layers = [][]File{append([]File(nil), img.Layers[0]...), img.Layers[1]}
	for i, j := 0, len(reversed.Layers[0])-1; i < j; i, j = i+1, j-1 {
		reversed.Layers[0][i], reversed.Layers[0][j] = reversed.Layers[0][j], reversed.Layers[0][i]
	}
	var a, b bytes.Buffer
	if err := WriteOCIArchive(&a, img); err != nil {
		t.Fatal(err)
	}
	if err := WriteOCIArchive(&b, reversed); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("file order changed the archive")
	}
}

func TestInvalidImages(t *testing.T) {
	for _, c := range []struct {
		name string
		img  Image
		want string
	}{
		{"relative path", Image{Layers: [][]File{{{Path: "bin/x", Mode: 0o755}}}}, "must be absolute"},
		{"root", Image{Layers: [][]File{{{Path: "/", Mode: fs.ModeDir | 0o755}}}}, "root directory"},
		{"duplicate", Image{Layers: [][]File{{{Path: "/a", Data: []byte("1")}, {Path: "/./a", Data: []byte("2")}}}}, "listed twice"},
		{"file parent", Image{Layers: [][]File{{{Path: "/a"}, {Path: "/a/b"}}}}, "not a directory"},
		{"data and source", Image{Layers: [][]File{{{Path: "/a", Data: []byte("1"), Source: "/etc/hostname"}}}}, "both Data and Source"},
		{"symlink without target", Image{Layers: [][]File{{{Path: "/a", Mode: fs.ModeSymlink}}}}, "without Link"},
		{"dir with data", Image{Layers: [][]File{{{Path: "/a", Mode: fs.ModeDir, Data: []byte("x")}}}}, "directory has no"},
		{"device", Image{Layers: [][]File{{{Path: "/dev/null", Mode: fs.ModeDevice | fs.ModeCharDevice}}}}, "unsupported file type"},
		{"missing source", Image{Layers: [][]File{{{Path: "/a", Source: "/nonexistent/file"}}}}, "no such file"},
		{"no layers", Image{Names: []string{"x"}}, "no layers"},
		{"bad name", Image{Names: []string{"lab/Busybox"}, Layers: [][]File{{{Path: "/a"}}}}, "lab/Busybox"},
		{"digest name", Image{Names: []string{"busybox@sha256:" + strings.Repeat("a", 64)}, Layers: [][]File{{{Path: "/a"}}}}, "by digest"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := WriteOCIArchive(io.Discard, c.img)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("WriteOCIArchive error = %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestNormalizeName(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"busybox", "docker.io/library/busybox:latest"},
		{"busybox:1.36", "docker.io/library/busybox:1.36"},
		{"docker.io/library/busybox:latest", "docker.io/library/busybox:latest"},
		{"minikubelet.io/pause:1.0", "minikubelet.io/pause:1.0"},
		{"localhost:5000/a/b", "localhost:5000/a/b:latest"},
	} {
		got, err := NormalizeName(c.in)
		if err != nil || got != c.want {
			t.Errorf("NormalizeName(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}
