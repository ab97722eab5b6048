package podworker

import (
	"errors"

	"github.com/minikubelet/minikubelet/runtime"
)

// startFailure is the kubelet's reason and message for a container that
// did not start (kuberuntime startContainer), ctr and err being what
// StartContainer returned:
//   - CreateContainerConfigError: the spec could not be made into a
//     configuration; the message is the cause alone, e.g. "error SubPath
//     `/tmp` must not be an absolute path";
//   - RunContainerError: the container was created and its task failed;
//     the message is the runtime's (the StartError it recorded);
//   - CreateContainerError: anything else.
func startFailure(ctr runtime.Container, err error) waitReason {
	var cfg *runtime.ConfigError
	switch {
	case errors.As(err, &cfg):
		return waitReason{Reason: "CreateContainerConfigError", Message: cfg.Error()}
	case ctr.ID != "" && ctr.Message != "":
		return waitReason{Reason: "RunContainerError", Message: ctr.Message}
	case ctr.ID != "":
		return waitReason{Reason: "RunContainerError", Message: err.Error()}
	}
	return waitReason{Reason: "CreateContainerError", Message: err.Error()}
}
