package dockerarchive

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"reflect"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/minikubelet/minikubelet/imagebuild"
)

func testImage() imagebuild.Image {
	return imagebuild.Image{
		Names: []string{"example.com/lab/tool:v1", "tool"},
		Layers: [][]imagebuild.File{
			{
				{Path: "/usr/bin/tool", Mode: 0o755, Data: []byte("#!/bin/sh\necho tool\n")},
				{Path: "/bin/t", Mode: fs.ModeSymlink | 0o777, Link: "/usr/bin/tool"},
				{Path: "/etc/motd", Mode: 0o644, Data: []byte("hello\n")},
			},
			{{Path: "/etc/motd", Mode: 0o600, Data: []byte("second\n")}},
		},
		Config: ocispec.ImageConfig{Entrypoint: []string{"/usr/bin/tool"}, Cmd: []string{"run"}},
	}
}

func readAll(t *testing.T, r io.Reader) map[string][]byte {
	t.Helper()
	files, err := readTar(r)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestWrite(t *testing.T) {
	img := testImage()
	other := imagebuild.Image{Layers: [][]imagebuild.File{{{Path: "/x", Mode: 0o644, Data: []byte("x")}}}}
	var buf bytes.Buffer
	if err := Write(&buf, img, other); err != nil {
		t.Fatal(err)
	}
	files := readAll(t, &buf)
	var manifests []Manifest
	if err := json.Unmarshal(files["manifest.json"], &manifests); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if len(manifests) != 2 {
		t.Fatalf("%d manifests, want 2 (one per image, not per name)", len(manifests))
	}
	m := manifests[0]
	if want := []string{"tool:latest", "example.com/lab/tool:v1"}; !reflect.DeepEqual(m.RepoTags, want) {
		t.Errorf("RepoTags = %v, want %v", m.RepoTags, want)
	}
	if manifests[1].RepoTags == nil || len(manifests[1].RepoTags) != 0 {
		t.Errorf("unnamed image: RepoTags = %#v, want []", manifests[1].RepoTags)
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(files[m.Config], &cfg); err != nil {
		t.Fatalf("config %s: %v", m.Config, err)
	}
	if m.Config != digest.FromBytes(files[m.Config]).Encoded()+".json" {
		t.Errorf("config file %s is not named by its digest", m.Config)
	}
	if !reflect.DeepEqual(cfg.Config, img.Config) {
		t.Errorf("config = %+v, want %+v", cfg.Config, img.Config)
	}
	if len(m.Layers) != 2 {
		t.Fatalf("%d layers, want 2", len(m.Layers))
	}
	for i, name := range m.Layers {
		raw, ok := files[name]
		if !ok {
			t.Fatalf("layer %s missing", name)
		}
		if digest.FromBytes(raw) != cfg.RootFS.DiffIDs[i] {
			t.Errorf("layer %d: %s is not the uncompressed tar of diff ID %s", i, name, cfg.RootFS.DiffIDs[i])
		}
	}
	layer1 := readAll(t, bytes.NewReader(files[m.Layers[1]]))
	if got := string(layer1["etc/motd"]); got != "second\n" {
		t.Errorf("layer 1 etc/motd = %q, want %q", got, "second\n")
	}

	var again bytes.Buffer
	if err := Write(&again, img, other); err != nil {
		t.Fatal(err)
	}
	var first bytes.Buffer
	_ = Write(&first, img, other)
	if !bytes.Equal(first.Bytes(), again.Bytes()) {
		t.Error("two writes of the same images differ")
	}
	tr := tar.NewReader(bytes.NewReader(again.Bytes()))
	for {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		if hdr.Uid != 0 || hdr.Gid != 0 || hdr.ModTime.Unix() != 0 {
			t.Errorf("entry %s: uid %d gid %d mtime %v, want 0 0 epoch", hdr.Name, hdr.Uid, hdr.Gid, hdr.ModTime)
		}
	}
}

func TestWriteInvalid(t *testing.T) {
	if err := Write(io.Discard); err == nil || !strings.Contains(err.Error(), "no images") {
		t.Errorf("no images: error %v, want one saying so", err)
	}
	// imagebuild's own checks name the fault.
	bad := imagebuild.Image{Names: []string{"lab/Busybox"}, Layers: [][]imagebuild.File{{{Path: "/a"}}}}
	if err := Write(io.Discard, bad); err == nil || !strings.Contains(err.Error(), "lab/Busybox") {
		t.Errorf("bad name: error %v, want one naming it", err)
	}
}
