package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	v1 "k8s.io/api/core/v1"
)

// isPodResource reports whether s names the pod resource as kubectl accepts
// it (pods, pod, po, with optional group/version spellings).
func isPodResource(s string) bool {
	switch strings.ToLower(s) {
	case "pods", "pod", "po", "pods.v1.", "pod.v1.", "pods.v1", "pod.v1":
		return true
	}
	return false
}

// podNames reads kubectl's two spellings of a pod list: `pods [NAME...]`
// and `pod/NAME...`. It returns the names (none means all pods).
func podNames(cmd *cobra.Command, args []string, verb string) ([]string, error) {
	if len(args) == 0 {
		return nil, usageErrorf(cmd, "you must specify the type of resource to %s, e.g. pods", verb)
	}
	if strings.Contains(args[0], "/") {
		var names []string
		for _, a := range args {
			res, name, ok := strings.Cut(a, "/")
			if !ok {
				return nil, usageErrorf(cmd, "there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'minikubelet %s pod/NAME' instead of 'minikubelet %s pod NAME')", verb, verb)
			}
			if !isPodResource(res) {
				return nil, fmt.Errorf("the server doesn't have a resource type %q", res)
			}
			if name == "" {
				return nil, fmt.Errorf("arguments in resource/name form must have a single resource and name")
			}
			names = append(names, name)
		}
		return names, nil
	}
	if !isPodResource(args[0]) {
		return nil, fmt.Errorf("the server doesn't have a resource type %q", args[0])
	}
	return args[1:], nil
}

// noResources prints kubectl's note for an empty listing.
func noResources(errOut io.Writer, namespace string) {
	if namespace == "" {
		fmt.Fprintln(errOut, "No resources found")
		return
	}
	fmt.Fprintf(errOut, "No resources found in %s namespace.\n", namespace)
}

// defaultContainer picks the container a logs or exec without -c means, as
// kubectl does: the kubectl.kubernetes.io/default-container annotation, else
// the first app container, with a note on errOut when there was a choice.
func defaultContainer(pod *v1.Pod, errOut io.Writer) (string, error) {
	if len(pod.Spec.Containers) == 0 {
		return "", fmt.Errorf("pod %s/%s does not have any containers", pod.Namespace, pod.Name)
	}
	if name := pod.Annotations[defaultContainerAnnotation]; name != "" {
		if hasContainer(pod, name) {
			return name, nil
		}
		fmt.Fprintf(errOut, "Default container name %q not found in pod %s\n", name, pod.Name)
	}
	name := pod.Spec.Containers[0].Name
	if len(pod.Spec.Containers) > 1 || len(pod.Spec.InitContainers) > 0 || len(pod.Spec.EphemeralContainers) > 0 {
		fmt.Fprintf(errOut, "Defaulted container %q out of: %s\n", name, allContainerNames(pod))
	}
	return name, nil
}

const defaultContainerAnnotation = "kubectl.kubernetes.io/default-container"

func hasContainer(pod *v1.Pod, name string) bool {
	for _, cs := range [][]v1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for _, c := range cs {
			if c.Name == name {
				return true
			}
		}
	}
	return false
}

func allContainerNames(pod *v1.Pod) string {
	var names []string
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		names = append(names, c.Name+" (ephem)")
	}
	for _, c := range pod.Spec.InitContainers {
		names = append(names, c.Name+" (init)")
	}
	return strings.Join(names, ", ")
}
