package api

import v1 "k8s.io/api/core/v1"

// ManifestError is the Status error (422 Invalid with a cause per problem)
// this API answers when source.Apply refuses a manifest; the Kubernetes
// API (package kubeapi) answers the same.
func ManifestError(err error) error { return manifestError(err) }

// ExecTarget checks an exec or attach into pod's container (the default
// container when "") as the API server and kubelet do, and returns the
// container's name and runtime ID.
func ExecTarget(pod *v1.Pod, container string) (string, string, error) {
	return execTarget(pod, container)
}

// AttachTarget checks an attach to pod's container as ExecTarget does
// (with attach's wording) and returns its name and runtime ID.
func AttachTarget(pod *v1.Pod, container string) (string, string, error) {
	return streamTarget(pod, container, "attach to")
}
