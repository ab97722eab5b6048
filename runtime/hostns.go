package runtime

import (
	"bytes"
	"fmt"
	"os"

	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"
)

// Host namespaces. A pod with hostNetwork, hostPID or hostIPC has a pause
// process without that namespace of its own, and its containers join the
// pause process's namespaces as always, which are then the node's: the
// CRI's NamespaceMode NODE (containerd sandboxContainerSpec,
// WithPodNamespaces). hostNetwork also drops the UTS namespace, so the pod
// has the node's hostname, and needs no netns nor CNI: its IP is the node's.

// hostNetworkHostsHeader heads the /etc/hosts of a hostNetwork pod, a copy
// of the node's (kubelet_pods.go nodeHostsFileContent).
const hostNetworkHostsHeader = "# Kubernetes-managed hosts file (host network).\n"

// hostsPath is the node's hosts file that hostNetwork pods get a copy of.
const hostsPath = "/etc/hosts"

// withSandboxNamespaces gives the pause process its namespaces: the
// network namespace at netnsPath (set up by CNI) and a UTS namespace with
// the pod's hostname, or the node's with hostNetwork; the node's PID and
// IPC namespaces with hostPID and hostIPC.
func withSandboxNamespaces(spec *v1.PodSpec, netnsPath, hostname string) oci.SpecOpts {
	var opts []oci.SpecOpts
	if spec.HostNetwork {
		opts = append(opts, oci.WithHostNamespace(specs.NetworkNamespace), oci.WithHostNamespace(specs.UTSNamespace))
	} else {
		opts = append(opts, withNetNSPath(netnsPath), oci.WithHostname(hostname))
	}
	if spec.HostPID {
		opts = append(opts, oci.WithHostNamespace(specs.PIDNamespace))
	}
	if spec.HostIPC {
		opts = append(opts, oci.WithHostNamespace(specs.IPCNamespace))
	}
	return oci.Compose(opts...)
}

// sharesPodPID reports whether the containers join the pause process's PID
// namespace: shareProcessNamespace (the pause process is their PID 1), or
// hostPID (it is the node's).
func sharesPodPID(spec *v1.PodSpec) bool {
	return spec.HostPID || (spec.ShareProcessNamespace != nil && *spec.ShareProcessNamespace)
}

// podShm is what the pod's /dev/shm is: the node's with hostIPC, else the
// pod's own tmpfs.
func podShm(spec *v1.PodSpec, layout podLayout) string {
	if spec.HostIPC {
		return "/dev/shm"
	}
	return layout.shm()
}

// withHostShm points a container's /dev/shm mount at the node's for a
// hostIPC pod (containerd containerMounts).
func withHostShm(spec *v1.PodSpec, layout podLayout, mounts []specs.Mount) []specs.Mount {
	if !spec.HostIPC {
		return mounts
	}
	for i := range mounts {
		if mounts[i].Source == layout.shm() {
			mounts[i].Source = podShm(spec, layout)
		}
	}
	return mounts
}

// nodeHostname is the hostname a hostNetwork pod has: the node's, as the
// kernel says (containerd uses os.Hostname when the kubelet gives none).
func nodeHostname() (string, error) {
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("node hostname: %w", err)
	}
	return h, nil
}

// hostNetworkHostsContent is the /etc/hosts of a hostNetwork pod: the
// node's hosts file under the kubelet's header, then the host aliases.
func hostNetworkHostsContent(node []byte, aliases []v1.HostAlias) []byte {
	var b bytes.Buffer
	b.WriteString(hostNetworkHostsHeader)
	b.Write(node)
	writeHostAliases(&b, aliases)
	return b.Bytes()
}
