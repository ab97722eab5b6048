// Package atomicdir writes a set of files into a directory so that a reader
// sees either the whole old set or the whole new set, never a mix: the
// layout of the kubelet's atomic writer for configMap, secret, downwardAPI
// and projected volumes. The files live in a timestamped directory
// (..2006_01_02_15_04_05.NNN), the symlink ..data points at it, and every
// top-level entry is a symlink through ..data. An update writes a new
// timestamped directory and swaps ..data with one rename, so a container
// that has the directory mounted sees the change at once. A file mounted
// alone (subPath) resolves through the symlinks when it is mounted and
// keeps the old content, as upstream.
package atomicdir

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

const (
	dataDir    = "..data"
	newDataDir = "..data_tmp"
)

// File is one file of the set.
type File struct {
	Data []byte
	Mode fs.FileMode
}

// Write makes dir hold exactly files (paths relative, "/"-separated, none
// starting with ".."), creating dir if needed. When the content and modes
// are already those, it does nothing and reports false. setPerms, when not
// nil, is called with the new timestamped directory once its files are
// written and before it becomes visible (fsGroup ownership). Not safe for
// concurrent calls on one dir.
func Write(dir string, files map[string]File, setPerms func(tsDir string) error) (changed bool, err error) {
	for p := range files {
		if err := checkPath(p); err != nil {
			return false, err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	oldTS, _ := os.Readlink(filepath.Join(dir, dataDir))
	if oldTS != "" && same(filepath.Join(dir, oldTS), files) {
		return false, nil
	}

	tsDir, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return false, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tsDir)
		}
	}()
	// MkdirTemp makes it 0700: readable by the container's users.
	if err := os.Chmod(tsDir, 0o755); err != nil {
		return false, err
	}
	for p, f := range files {
		full := filepath.Join(tsDir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return false, err
		}
		if err := os.WriteFile(full, f.Data, f.Mode); err != nil {
			return false, err
		}
		// WriteFile is subject to umask.
		if err := os.Chmod(full, f.Mode); err != nil {
			return false, err
		}
	}
	if setPerms != nil {
		if err := setPerms(tsDir); err != nil {
			return false, err
		}
	}

	// Swap ..data in one rename.
	tmpLink := filepath.Join(dir, newDataDir)
	_ = os.Remove(tmpLink)
	if err := os.Symlink(filepath.Base(tsDir), tmpLink); err != nil {
		return false, err
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, dataDir)); err != nil {
		os.Remove(tmpLink)
		return false, err
	}

	// The user-visible names: a symlink through ..data for each new
	// top-level entry; the ones no longer in the set go.
	top := map[string]bool{}
	for p := range files {
		top[strings.SplitN(p, "/", 2)[0]] = true
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return true, err
	}
	var errs []error
	for _, e := range entries {
		if name := e.Name(); !strings.HasPrefix(name, "..") && !top[name] {
			errs = append(errs, os.Remove(filepath.Join(dir, name)))
		}
	}
	for name := range top {
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		errs = append(errs, os.Symlink(filepath.Join(dataDir, name), link))
	}
	if oldTS != "" && oldTS != filepath.Base(tsDir) {
		errs = append(errs, os.RemoveAll(filepath.Join(dir, oldTS)))
	}
	return true, errors.Join(errs...)
}

// checkPath refuses a path that could leave the directory or clash with
// the layout's own names, as the kubelet's validatePath does.
func checkPath(p string) error {
	switch {
	case p == "":
		return errors.New("invalid path: must not be empty")
	case filepath.IsAbs(p):
		return fmt.Errorf("invalid path %q: must be relative", p)
	case strings.HasPrefix(p, ".."):
		return fmt.Errorf("invalid path %q: must not start with '..'", p)
	case slices.Contains(strings.Split(p, "/"), ".."):
		return fmt.Errorf("invalid path %q: must not contain '..'", p)
	}
	return nil
}

// same reports whether tsDir holds exactly files, with their modes.
func same(tsDir string, files map[string]File) bool {
	n := 0
	err := filepath.WalkDir(tsDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(tsDir, path)
		if err != nil {
			return err
		}
		f, ok := files[filepath.ToSlash(rel)]
		if !ok {
			return fs.ErrNotExist
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode().Perm() != f.Mode.Perm() {
			return fs.ErrInvalid
		}
		data, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(data, f.Data) {
			return fs.ErrInvalid
		}
		n++
		return nil
	})
	return err == nil && n == len(files)
}
