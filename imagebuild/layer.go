package imagebuild

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
)

// epoch is the timestamp of every entry, config and history record, so that
// the same inputs always give the same digests.
var epoch = time.Unix(0, 0).UTC()

// implicitDirMode is the mode of parent directories nobody listed.
const implicitDirMode = fs.ModeDir | 0o755

// File is one entry of a layer.
type File struct {
	// Path is the absolute path inside the image, e.g. /bin/busybox.
	Path string
	// Mode holds the permission bits (setuid, setgid and sticky included)
	// and the type: fs.ModeDir for a directory, fs.ModeSymlink for a
	// symbolic link, no type bit for a regular file.
	Mode os.FileMode
	// Data is the content of a regular file. Leave it nil to use Source.
	Data []byte
	// Source is a host path the content of a regular file is read from
	// when the layer is written.
	Source string
	// Link is the target of a symbolic link.
	Link string
}

// entry is a File with a cleaned relative tar name, ready to be written.
type entry struct {
	name string // without leading slash, e.g. "bin/busybox"
	file File
}

// layerEntries validates files and returns them plus their implicit parent
// directories, sorted by name so that parents precede their children.
func layerEntries(files []File) ([]entry, error) {
	byName := make(map[string]File, len(files))
	for _, f := range files {
		if !path.IsAbs(f.Path) {
			return nil, fmt.Errorf("file %q: path must be absolute", f.Path)
		}
		name := strings.TrimPrefix(path.Clean(f.Path), "/")
		if name == "" {
			return nil, fmt.Errorf("file %q: the root directory cannot be an entry", f.Path)
		}
		if err := validateFile(f); err != nil {
			return nil, fmt.Errorf("file %q: %w", f.Path, err)
		}
		if _, dup := byName[name]; dup {
			return nil, fmt.Errorf("file %q: listed twice in one layer", f.Path)
		}
		byName[name] = f
	}
	// Add missing parents, and refuse a non-directory that has children:
	// a tar like that unpacks differently depending on the extractor.
	for name := range byName {
		for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
			parent, ok := byName[dir]
			if !ok {
				byName[dir] = File{Path: "/" + dir, Mode: implicitDirMode}
				continue
			}
			if !parent.Mode.IsDir() {
				return nil, fmt.Errorf("file %q: parent %q is not a directory", "/"+name, parent.Path)
			}
		}
	}
	entries := make([]entry, 0, len(byName))
	for name, f := range byName {
		entries = append(entries, entry{name: name, file: f})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	return entries, nil
}

func validateFile(f File) error {
	switch typ := f.Mode.Type(); typ {
	case 0:
		if f.Data != nil && f.Source != "" {
			return errors.New("both Data and Source are set")
		}
		if f.Link != "" {
			return errors.New("Link is set on a regular file")
		}
	case fs.ModeDir:
		if f.Data != nil || f.Source != "" || f.Link != "" {
			return errors.New("a directory has no Data, Source or Link")
		}
	case fs.ModeSymlink:
		if f.Link == "" {
			return errors.New("symlink without Link")
		}
		if f.Data != nil || f.Source != "" {
			return errors.New("a symlink has no Data or Source")
		}
	default:
		return fmt.Errorf("unsupported file type %v", typ)
	}
	return nil
}

// tarMode turns an os.FileMode into the mode bits of a tar header.
func tarMode(m os.FileMode) int64 {
	mode := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}

// writeLayerTar writes the uncompressed tar of one layer. Every entry is
// owned by 0:0 and stamped with the epoch.
func writeLayerTar(w io.Writer, files []File) error {
	entries, err := layerEntries(files)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	for _, e := range entries {
		hdr := &tar.Header{
			Name:    e.name,
			Mode:    tarMode(e.file.Mode),
			ModTime: epoch,
			Format:  tar.FormatPAX,
		}
		var content []byte
		switch e.file.Mode.Type() {
		case fs.ModeDir:
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
		case fs.ModeSymlink:
			hdr.Typeflag = tar.TypeSymlink
			hdr.Linkname = e.file.Link
		default:
			hdr.Typeflag = tar.TypeReg
			content = e.file.Data
			if e.file.Source != "" {
				content, err = os.ReadFile(e.file.Source)
				if err != nil {
					return fmt.Errorf("file %q: %w", e.file.Path, err)
				}
			}
			hdr.Size = int64(len(content))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("file %q: %w", e.file.Path, err)
		}
		if _, err := tw.Write(content); err != nil {
			return fmt.Errorf("file %q: %w", e.file.Path, err)
		}
	}
	return tw.Close()
}

// layer is one built layer blob.
type layer struct {
	blob   []byte        // the bytes stored in the archive
	digest digest.Digest // digest of blob
	diffID digest.Digest // digest of the uncompressed tar
}

// buildLayer writes the layer's tar once, hashing the uncompressed stream
// for the diff ID while keeping either the tar itself or its gzip.
func buildLayer(files []File, compress bool) (layer, error) {
	var blob bytes.Buffer
	diffHash := sha256.New()
	var (
		tarOut io.Writer = io.MultiWriter(&blob, diffHash)
		gz     *gzip.Writer
	)
	if compress {
		// A zero gzip header (no name, no mtime) keeps the blob stable.
		gz = gzip.NewWriter(&blob)
		tarOut = io.MultiWriter(gz, diffHash)
	}
	if err := writeLayerTar(tarOut, files); err != nil {
		return layer{}, err
	}
	if gz != nil {
		if err := gz.Close(); err != nil {
			return layer{}, err
		}
	}
	return layer{
		blob:   blob.Bytes(),
		digest: digest.FromBytes(blob.Bytes()),
		diffID: digest.NewDigestFromBytes(digest.SHA256, diffHash.Sum(nil)),
	}, nil
}
