// Package image builds the pause image the agent brings with it, so that a
// fresh node never needs a registry to start a pod sandbox.
package image

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/minikubelet/minikubelet/imagebuild"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Ref is the name of the pause image the agent creates.
const Ref = "minikubelet.io/pause:1.0"

// User is the user the pause image runs as, as in upstream's pause image
// (65535 is the traditional "nobody" of Kubernetes images). Pause needs no
// privilege to hold namespaces or to reap its children.
const User = "65535:65535"

// Build returns the pause image: one layer holding only /pause, no shell,
// entrypoint /pause.
func Build(binary []byte) imagebuild.Image {
	return imagebuild.Image{
		Names:  []string{Ref},
		Layers: [][]imagebuild.File{{{Path: "/pause", Mode: 0o755, Data: binary}}},
		Config: ocispec.ImageConfig{
			Entrypoint: []string{"/pause"},
			User:       User,
		},
	}
}

// modulePath is the module that holds the pause command.
const modulePath = "github.com/minikubelet/minikubelet"

// BuildBinary builds the pause command (./pause of this module) into
// outPath, static (CGO_ENABLED=0), with -trimpath and stripped (-ldflags
// "-s -w"), for linux on the architecture of this program. It needs the
// module's source and a go toolchain; tests and scripts use it.
func BuildBinary(ctx context.Context, outPath string) error {
	root, err := moduleRoot(ctx)
	if err != nil {
		return fmt.Errorf("build pause: %w", err)
	}
	out, err := filepath.Abs(outPath)
	if err != nil {
		return fmt.Errorf("build pause: %w", err)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w", "-o", out, "./pause")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build pause in %s: %w\n%s", root, err, output)
	}
	return nil
}

// moduleRoot finds the module's source: beside this file when it was
// compiled from a source tree (tests, go run), otherwise the module that
// `go env GOMOD` finds from the working directory.
func moduleRoot(ctx context.Context) (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		root := filepath.Join(filepath.Dir(file), "..", "..")
		if isModuleRoot(root) {
			return root, nil
		}
	}
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the " + modulePath + " module (go env GOMOD is empty)")
	}
	root := filepath.Dir(gomod)
	if !isModuleRoot(root) {
		return "", fmt.Errorf("%s is not the %s module", gomod, modulePath)
	}
	return root, nil
}

func isModuleRoot(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return f[1] == modulePath
		}
	}
	return false
}
