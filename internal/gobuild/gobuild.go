// Package gobuild builds the module's own helper programs (the pause
// program, the lab's web app) into static binaries that an image can carry:
// the Go ones with the go toolchain, the pause program, which is C, with gcc.
package gobuild

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// modulePath is the module whose packages Static builds.
const modulePath = "github.com/minikubelet/minikubelet"

// Static builds pkg, a package path relative to the module root such as
// "./images/myapp", into out: static (CGO_ENABLED=0), -trimpath, stripped
// (-ldflags "-s -w" followed by ldflags), for linux on the architecture of
// this program. It needs the module's source and a go toolchain.
func Static(ctx context.Context, pkg, out string, ldflags ...string) error {
	root, err := moduleRoot(ctx)
	if err != nil {
		return fmt.Errorf("go build %s: %w", pkg, err)
	}
	out, err = filepath.Abs(out)
	if err != nil {
		return fmt.Errorf("go build %s: %w", pkg, err)
	}
	flags := strings.Join(append([]string{"-s", "-w"}, ldflags...), " ")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags", flags, "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s in %s: %w\n%s", pkg, root, err, output)
	}
	return nil
}

// moduleRoot finds the module's source: beside this file when it was
// compiled from a source tree (tests, go run), otherwise the module that
// `go env GOMOD` finds from the working directory.
func moduleRoot(ctx context.Context) (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		// This file is internal/gobuild/gobuild.go.
		if root := filepath.Join(filepath.Dir(file), "..", ".."); isModuleRoot(root) {
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
	if root := filepath.Dir(gomod); isModuleRoot(root) {
		return root, nil
	}
	return "", fmt.Errorf("%s is not the %s module", gomod, modulePath)
}

// isModuleRoot reports whether dir holds this module's go.mod.
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

// Pause builds the pause program (pause/pause.c) into out as it is shipped,
// for tests; the agent itself is given the binary. It needs gcc and glibc's
// static libc (Debian's gcc and libc6-dev).
func Pause(ctx context.Context, out string) error {
	root, err := moduleRoot(ctx)
	if err != nil {
		return fmt.Errorf("build pause: %w", err)
	}
	out, err = filepath.Abs(out)
	if err != nil {
		return fmt.Errorf("build pause: %w", err)
	}
	// As scripts/lib.sh's build_pause: small, static (the image has no
	// loader nor libc) and stripped, with every warning an error.
	args := []string{"-Os", "-Wall", "-Werror", "-static", "-s", "-o", out, "pause/pause.c"}
	cmd := exec.CommandContext(ctx, "gcc", args...)
	cmd.Dir = root
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build pause: gcc %s in %s (needs gcc and libc6-dev): %w\n%s", strings.Join(args, " "), root, err, output)
	}
	return nil
}
