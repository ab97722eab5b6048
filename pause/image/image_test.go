package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"reflect"
	"testing"

	"github.com/minikubelet/minikubelet/imagebuild"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestBuild(t *testing.T) {
	img := Build([]byte("fake pause"))
	if !reflect.DeepEqual(img.Names, []string{Ref}) {
		t.Errorf("names = %v, want [%s]", img.Names, Ref)
	}
	if !reflect.DeepEqual(img.Config.Entrypoint, []string{"/pause"}) || img.Config.Cmd != nil {
		t.Errorf("entrypoint %v cmd %v, want [/pause] and none", img.Config.Entrypoint, img.Config.Cmd)
	}
	if img.Config.Env != nil || img.Config.User != User {
		t.Errorf("env %v user %q, want none and %s", img.Config.Env, img.Config.User, User)
	}
	if len(img.Layers) != 1 || len(img.Layers[0]) != 1 {
		t.Fatalf("layers = %+v, want one layer with only /pause", img.Layers)
	}
	if f := img.Layers[0][0]; f.Path != "/pause" || f.Mode != 0o755 || string(f.Data) != "fake pause" {
		t.Errorf("layer file = %+v", f)
	}

	// The archive holds exactly the one file: no shell, no directories.
	var archive bytes.Buffer
	if err := imagebuild.WriteOCIArchive(&archive, img); err != nil {
		t.Fatal(err)
	}
	blobs := map[string][]byte{}
	tr := tar.NewReader(&archive)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		blobs[hdr.Name] = b
	}
	var index ocispec.Index
	if err := json.Unmarshal(blobs["index.json"], &index); err != nil {
		t.Fatal(err)
	}
	var manifest ocispec.Manifest
	if err := json.Unmarshal(blobs["blobs/sha256/"+index.Manifests[0].Digest.Encoded()], &manifest); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(blobs["blobs/sha256/"+manifest.Layers[0].Digest.Encoded()]))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	lr := tar.NewReader(zr)
	for {
		hdr, err := lr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
	}
	if !reflect.DeepEqual(names, []string{"pause"}) {
		t.Errorf("layer entries = %v, want [pause]", names)
	}
}
