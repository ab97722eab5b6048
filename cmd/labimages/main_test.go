package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minikubelet/minikubelet/imagebuild"
)

func TestRunUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"--out"}, {"--out", t.TempDir(), "extra"}} {
		var stderr strings.Builder
		if err := run(context.Background(), args, io.Discard, &stderr); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
	if err := run(context.Background(), []string{"-h"}, io.Discard, io.Discard); err != nil {
		t.Errorf("-h: %v", err)
	}
}

func TestRunFailsWithoutBusybox(t *testing.T) {
	out := t.TempDir()
	err := run(context.Background(), []string{"--out", out, "--busybox", filepath.Join(out, "none")}, io.Discard, io.Discard)
	if err == nil {
		t.Fatal("built images from a busybox that does not exist")
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("left files behind: %v", entries)
	}
}

func TestWriteArchiveReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "x.tar")
	if err := os.WriteFile(name, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	img := imagebuild.Image{
		Names:  []string{"lab.test/x:1"},
		Layers: [][]imagebuild.File{{{Path: "/hello", Mode: 0o644, Data: []byte("hi\n")}}},
	}
	a, err := writeArchive(name, img)
	if err != nil {
		t.Fatal(err)
	}
	if a.names[0] != "lab.test/x:1" || a.size == 0 {
		t.Errorf("archive = %+v", a)
	}
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 || fi.Size() != a.size {
		t.Errorf("mode %v size %d", fi.Mode(), fi.Size())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temp files left: %v", entries)
	}
}
