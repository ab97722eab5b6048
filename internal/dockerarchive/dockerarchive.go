// Package dockerarchive writes images in the `docker save` format, for the
// tests that check the agent imports such archives as well as OCI ones.
// The agent only reads them, so it does not link this package: the images
// are built by imagebuild as an OCI archive and rewritten.
package dockerarchive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"time"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/minikubelet/minikubelet/imagebuild"
)

// Manifest is one entry of a `docker save` manifest.json.
type Manifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// Write writes imgs in the `docker save` format: manifest.json (with
// RepoTags), <config hex>.json and <diff ID hex>/layer.tar per layer,
// layers uncompressed as docker writes them. The same images give the same
// bytes.
func Write(w io.Writer, imgs ...imagebuild.Image) error {
	if len(imgs) == 0 {
		return errors.New("docker archive: no images")
	}
	var oci bytes.Buffer
	if err := imagebuild.WriteOCIArchive(&oci, imgs...); err != nil {
		return err
	}
	blobs, err := readTar(&oci)
	if err != nil {
		return fmt.Errorf("docker archive: read the OCI archive: %w", err)
	}
	blob := func(d digest.Digest) ([]byte, error) {
		b, ok := blobs["blobs/"+d.Algorithm().String()+"/"+d.Encoded()]
		if !ok {
			return nil, fmt.Errorf("docker archive: blob %s missing from the OCI archive", d)
		}
		return b, nil
	}
	var index ocispec.Index
	if err := json.Unmarshal(blobs["index.json"], &index); err != nil {
		return fmt.Errorf("docker archive: index.json: %w", err)
	}

	// The index has one entry per name; docker has one per image.
	files := map[string][]byte{}
	var manifests []Manifest
	byDigest := map[digest.Digest]int{}
	for _, desc := range index.Manifests {
		i, ok := byDigest[desc.Digest]
		if !ok {
			m, err := dockerManifest(desc.Digest, blob, files)
			if err != nil {
				return err
			}
			i = len(manifests)
			byDigest[desc.Digest] = i
			manifests = append(manifests, m)
		}
		if name := desc.Annotations[imagebuild.AnnotationImageName]; name != "" {
			ref, err := reference.ParseNormalizedNamed(name)
			if err != nil {
				return fmt.Errorf("docker archive: image name %q: %w", name, err)
			}
			manifests[i].RepoTags = append(manifests[i].RepoTags, reference.FamiliarString(ref))
		}
	}
	if files["manifest.json"], err = json.Marshal(manifests); err != nil {
		return err
	}
	return writeTar(w, files)
}

// dockerManifest puts the config and the uncompressed layers of the OCI
// manifest d into files and returns the docker manifest naming them.
func dockerManifest(d digest.Digest, blob func(digest.Digest) ([]byte, error), files map[string][]byte) (Manifest, error) {
	data, err := blob(d)
	if err != nil {
		return Manifest{}, err
	}
	var om ocispec.Manifest
	if err := json.Unmarshal(data, &om); err != nil {
		return Manifest{}, fmt.Errorf("docker archive: manifest %s: %w", d, err)
	}
	m := Manifest{Config: om.Config.Digest.Encoded() + ".json", RepoTags: []string{}}
	if files[m.Config], err = blob(om.Config.Digest); err != nil {
		return Manifest{}, err
	}
	for _, l := range om.Layers {
		gz, err := blob(l.Digest)
		if err != nil {
			return Manifest{}, err
		}
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			return Manifest{}, fmt.Errorf("docker archive: layer %s: %w", l.Digest, err)
		}
		raw, err := io.ReadAll(zr)
		if err != nil {
			return Manifest{}, fmt.Errorf("docker archive: layer %s: %w", l.Digest, err)
		}
		name := digest.FromBytes(raw).Encoded() + "/layer.tar"
		files[name] = raw
		m.Layers = append(m.Layers, name)
	}
	return m, nil
}

func readTar(r io.Reader) (map[string][]byte, error) {
	files := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return nil, err
		}
		if hdr.Typeflag == tar.TypeReg {
			if files[hdr.Name], err = io.ReadAll(tr); err != nil {
				return nil, err
			}
		}
	}
}

// writeTar writes files sorted by name, each directory once before its
// first file, owned by root and dated at the epoch as imagebuild's are.
func writeTar(w io.Writer, files map[string][]byte) error {
	epoch := time.Unix(0, 0).UTC()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := tar.NewWriter(w)
	dirs := map[string]bool{}
	for _, n := range names {
		if dir := path.Dir(n); dir != "." && !dirs[dir] {
			dirs[dir] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
				return err
			}
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: n, Mode: 0o644, Size: int64(len(files[n])), ModTime: epoch, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("archive entry %s: %w", n, err)
		}
		if _, err := tw.Write(files[n]); err != nil {
			return fmt.Errorf("archive entry %s: %w", n, err)
		}
	}
	return tw.Close()
}
