// Package image builds the pause image the agent brings with it, so that a
// fresh node never needs a registry to start a pod sandbox.
package image

import (
	"github.com/minikubelet/minikubelet/imagebuild"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Ref is the name of the pause image the agent creates. Its tag is the
// version pause -v prints (pause/pause.c): a new pause program needs a new
// tag, or nodes that imported the old image would keep running it.
const Ref = "minikubelet.io/pause:1.1"

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
