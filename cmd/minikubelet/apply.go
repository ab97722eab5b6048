package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/minikubelet/minikubelet/api"
)

// manifestFile is one file (or stdin) given with -f.
type manifestFile struct {
	path string // as given; "-" for stdin
	name string // base name the agent stores it under; "" for stdin
	data []byte
}

// manifestExtensions are the file types kubectl reads from a directory.
var manifestExtensions = map[string]bool{".json": true, ".yaml": true, ".yml": true}

// readManifests expands -f arguments like kubectl: "-" is stdin, a
// directory contributes its .json/.yaml/.yml files in name order (and its
// subdirectories' with recursive), a file is read as is.
func readManifests(filenames []string, recursive bool, stdin io.Reader) ([]manifestFile, error) {
	var out []manifestFile
	for _, fn := range filenames {
		if fn == "-" {
			data, err := io.ReadAll(stdin)
			if err != nil {
				return nil, fmt.Errorf("read stdin: %w", err)
			}
			out = append(out, manifestFile{path: fn, data: data})
			continue
		}
		fi, err := os.Stat(fn)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("the path %q does not exist", fn)
			}
			return nil, err
		}
		if !fi.IsDir() {
			data, err := os.ReadFile(fn)
			if err != nil {
				return nil, err
			}
			out = append(out, manifestFile{path: fn, name: filepath.Base(fn), data: data})
			continue
		}
		var paths []string
		err = filepath.WalkDir(fn, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if p != fn && !recursive {
					return filepath.SkipDir
				}
				return nil
			}
			if manifestExtensions[strings.ToLower(filepath.Ext(p))] {
				paths = append(paths, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(paths)
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				return nil, err
			}
			out = append(out, manifestFile{path: p, name: filepath.Base(p), data: data})
		}
	}
	return out, nil
}

type applyOptions struct {
	IOStreams
	client *api.Client

	filenames []string
	recursive bool
}

func newApplyCommand(g *globalOptions, streams IOStreams) *cobra.Command {
	o := &applyOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR|-",
		Short: "Create or update pods from manifest files",
		Example: `  minikubelet apply -f web.yaml
  cat web.yaml | minikubelet apply -f -`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf(cmd, "unexpected arguments %v: give manifests with -f", args)
			}
			if len(o.filenames) == 0 {
				return usageErrorf(cmd, "must specify -f")
			}
			o.client = g.client(o.ErrOut)
			return o.run(cmd.Context())
		},
	}
	cmd.Flags().StringSliceVarP(&o.filenames, "filename", "f", nil, "manifest file, directory or - for stdin")
	cmd.Flags().BoolVarP(&o.recursive, "recursive", "R", false, "also read the directories under a -f directory")
	return cmd
}

func (o *applyOptions) run(ctx context.Context) error {
	files, err := readManifests(o.filenames, o.recursive, o.In)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no objects passed to apply")
	}
	// Like kubectl, a bad file is reported and the others still applied.
	failed := false
	for _, f := range files {
		results, err := o.client.Apply(ctx, f.name, f.data)
		for _, r := range results {
			fmt.Fprintln(o.Out, r)
		}
		if err != nil {
			var ce *api.ConnectError
			if errors.As(err, &ce) || ctx.Err() != nil {
				return err
			}
			printMsg(o.ErrOut, errorMessage(err))
			failed = true
		}
	}
	if failed {
		return silentError
	}
	return nil
}
