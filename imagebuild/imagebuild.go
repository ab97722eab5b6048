// Package imagebuild builds container images offline, without a registry,
// a daemon or containerd: an image is a list of layers of files plus an
// OCI config, written as an OCI image layout tar or a `docker save` tar.
//
// Output is deterministic: entries are sorted, owned by 0:0 and stamped with
// the Unix epoch, JSON is marshalled from structs and sorted maps, and gzip
// headers carry no name or time, so the same inputs give the same digests.
//
// Layers are built in memory; this package is meant for small images (a
// static binary or two), not for general-purpose image building.
package imagebuild

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"sort"

	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// AnnotationImageName is the index annotation containerd reads the full
// image name from (images.AnnotationImageName in containerd); the OCI
// ref.name annotation only carries the tag.
const AnnotationImageName = "io.containerd.image.name"

// createdBy is recorded in every history entry.
const createdBy = "minikubelet imagebuild"

// Image is an image to write.
type Image struct {
	// Names are the image's references, e.g. docker.io/library/busybox:latest.
	// Short names are normalized as docker does (busybox → docker.io/library/busybox:latest).
	Names []string
	// Layers are applied in order; parent directories are created
	// implicitly with mode 0755.
	Layers [][]File
	// Config is the runtime configuration: Entrypoint, Cmd, Env, WorkingDir,
	// ExposedPorts, StopSignal, User, Labels, ...
	Config ocispec.ImageConfig
}

// Platform is the platform every built image is for: Linux on the
// architecture this program was built for.
func Platform() ocispec.Platform {
	return ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}
}

// NormalizeName returns the full reference for name as docker and containerd
// spell it (busybox → docker.io/library/busybox:latest). A name must not
// carry a digest: a digest names content, which is built here.
func NormalizeName(name string) (string, error) {
	ref, err := reference.ParseDockerRef(name)
	if err != nil {
		return "", fmt.Errorf("image name %q: %w", name, err)
	}
	if _, ok := ref.(reference.Digested); ok {
		return "", fmt.Errorf("image name %q: a built image cannot be named by digest", name)
	}
	return ref.String(), nil
}

// blob is content addressed by its digest.
type blob struct {
	desc ocispec.Descriptor
	data []byte
}

func newBlob(mediaType string, data []byte) blob {
	return blob{
		desc: ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))},
		data: data,
	}
}

func jsonBlob(mediaType string, v any) (blob, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return blob{}, err
	}
	return newBlob(mediaType, data), nil
}

// built is an image turned into blobs.
type built struct {
	names  []string // normalized, sorted
	config blob
	layers []layer
}

// build normalizes names and builds the layers and the config. Layers are
// gzip-compressed when compress is set.
func build(img Image, compress bool) (built, error) {
	var b built
	for _, n := range img.Names {
		full, err := NormalizeName(n)
		if err != nil {
			return built{}, err
		}
		b.names = append(b.names, full)
	}
	b.names = dedupSorted(b.names)
	label := "image"
	if len(b.names) > 0 {
		label = fmt.Sprintf("image %s", b.names[0])
	}
	if len(img.Layers) == 0 {
		return built{}, fmt.Errorf("%s: no layers", label)
	}

	cfg := ocispec.Image{
		Created:  &epoch,
		Platform: Platform(),
		Config:   img.Config,
		RootFS:   ocispec.RootFS{Type: "layers"},
	}
	for i, files := range img.Layers {
		l, err := buildLayer(files, compress)
		if err != nil {
			return built{}, fmt.Errorf("%s: layer %d: %w", label, i, err)
		}
		b.layers = append(b.layers, l)
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.diffID)
		cfg.History = append(cfg.History, ocispec.History{Created: &epoch, CreatedBy: createdBy})
	}
	var err error
	if b.config, err = jsonBlob(ocispec.MediaTypeImageConfig, cfg); err != nil {
		return built{}, fmt.Errorf("%s: config: %w", label, err)
	}
	return b, nil
}

func dedupSorted(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// WriteOCIArchive writes imgs as one OCI image layout in a tar stream:
// oci-layout, index.json and blobs/sha256/<hex>. The index has one entry per
// image name, annotated with both org.opencontainers.image.ref.name (the
// tag) and io.containerd.image.name (the full name), which is what
// containerd's Import reads. Layers are gzip-compressed.
func WriteOCIArchive(w io.Writer, imgs ...Image) error {
	blobs := map[digest.Digest]blob{}
	index := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{},
	}
	for _, img := range imgs {
		b, err := build(img, true)
		if err != nil {
			return err
		}
		manifest := ocispec.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: ocispec.MediaTypeImageManifest,
			Config:    b.config.desc,
		}
		blobs[b.config.desc.Digest] = b.config
		for _, l := range b.layers {
			lb := newBlob(ocispec.MediaTypeImageLayerGzip, l.blob)
			manifest.Layers = append(manifest.Layers, lb.desc)
			blobs[lb.desc.Digest] = lb
		}
		mb, err := jsonBlob(ocispec.MediaTypeImageManifest, manifest)
		if err != nil {
			return fmt.Errorf("manifest of %v: %w", b.names, err)
		}
		blobs[mb.desc.Digest] = mb

		platform := Platform()
		desc := mb.desc
		desc.Platform = &platform
		if len(b.names) == 0 {
			index.Manifests = append(index.Manifests, desc)
		}
		for _, name := range b.names {
			d := desc
			d.Annotations = map[string]string{
				AnnotationImageName:       name,
				ocispec.AnnotationRefName: tagOf(name),
			}
			index.Manifests = append(index.Manifests, d)
		}
	}
	layout, err := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err != nil {
		return err
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return err
	}

	tw := tar.NewWriter(w)
	if err := writeTarFile(tw, ocispec.ImageLayoutFile, layout); err != nil {
		return err
	}
	if err := writeTarFile(tw, "index.json", indexJSON); err != nil {
		return err
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	digests := make([]digest.Digest, 0, len(blobs))
	for d := range blobs {
		digests = append(digests, d)
	}
	sort.Slice(digests, func(i, j int) bool { return digests[i] < digests[j] })
	for _, d := range digests {
		if err := writeTarFile(tw, "blobs/"+d.Algorithm().String()+"/"+d.Encoded(), blobs[d].data); err != nil {
			return err
		}
	}
	return tw.Close()
}

// tagOf returns the tag of a normalized, tagged name ("latest" for
// docker.io/library/busybox:latest), the form OCI gives ref.name.
func tagOf(name string) string {
	ref, err := reference.ParseNamed(name)
	if err != nil {
		return name
	}
	if t, ok := ref.(reference.Tagged); ok {
		return t.Tag()
	}
	return name
}

func writeTarFile(tw *tar.Writer, name string, data []byte) error {
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Mode:     0o644,
		Size:     int64(len(data)),
		ModTime:  epoch,
		Format:   tar.FormatPAX,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("archive entry %s: %w", name, err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("archive entry %s: %w", name, err)
	}
	return nil
}
