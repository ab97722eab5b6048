package kubeapi

import (
	"os"
	goruntime "runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minikubelet/minikubelet/internal/nodecap"
)

// NodeConfig describes the node for its Node object.
type NodeConfig struct {
	Name    string
	IP      string
	PodCIDR string
	// RuntimeVersion is "containerd://<version>".
	RuntimeVersion string
	// Root is the filesystem whose size is the ephemeral-storage capacity.
	Root string
	// MaxPods is the node's pod capacity.
	MaxPods int
	// Started is when the agent started: the node's creation and the
	// conditions' transition time.
	Started time.Time
}

// BuildNode returns the Node object the kubelet would register and keep
// up to date for this machine. It is stable between calls unless the
// machine changed, so that watchers see no empty updates.
func BuildNode(c NodeConfig) *v1.Node {
	started := metav1.NewTime(c.Started.Truncate(time.Second))
	capacity := nodecap.Capacity(c.Root, c.MaxPods)
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	cond := func(t v1.NodeConditionType, s v1.ConditionStatus, reason, msg string) v1.NodeCondition {
		return v1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: started, LastTransitionTime: started}
	}
	n := &v1.Node{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Node"},
		ObjectMeta: metav1.ObjectMeta{
			Name: c.Name, UID: nameUID("node", c.Name), CreationTimestamp: started,
			Labels: map[string]string{
				"beta.kubernetes.io/arch": goruntime.GOARCH, "beta.kubernetes.io/os": goruntime.GOOS,
				v1.LabelArchStable: goruntime.GOARCH, v1.LabelOSStable: goruntime.GOOS, v1.LabelHostname: c.Name,
			},
			Annotations: map[string]string{"volumes.kubernetes.io/controller-managed-attach-detach": "true"},
		},
		Spec: v1.NodeSpec{PodCIDR: c.PodCIDR},
		Status: v1.NodeStatus{
			Capacity:    capacity,
			Allocatable: nodecap.Allocatable(capacity),
			Phase:       "",
			Conditions: []v1.NodeCondition{
				cond(v1.NodeMemoryPressure, v1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
				cond(v1.NodeDiskPressure, v1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
				cond(v1.NodePIDPressure, v1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
				cond(v1.NodeReady, v1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"),
			},
			DaemonEndpoints: v1.NodeDaemonEndpoints{KubeletEndpoint: v1.DaemonEndpoint{Port: 10250}},
			NodeInfo: v1.NodeSystemInfo{
				MachineID:               readTrim("/etc/machine-id"),
				SystemUUID:              strings.ToLower(readTrim("/sys/class/dmi/id/product_uuid")),
				BootID:                  readTrim("/proc/sys/kernel/random/boot_id"),
				KernelVersion:           unix.ByteSliceToString(uts.Release[:]),
				OSImage:                 osImage(),
				ContainerRuntimeVersion: c.RuntimeVersion,
				KubeletVersion:          ServedVersion,
				OperatingSystem:         goruntime.GOOS,
				Architecture:            goruntime.GOARCH,
			},
		},
	}
	if c.PodCIDR != "" {
		n.Spec.PodCIDRs = []string{c.PodCIDR}
	}
	if c.IP != "" {
		n.Status.Addresses = append(n.Status.Addresses, v1.NodeAddress{Type: v1.NodeInternalIP, Address: c.IP})
	}
	n.Status.Addresses = append(n.Status.Addresses, v1.NodeAddress{Type: v1.NodeHostName, Address: c.Name})
	return n
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// osImage is PRETTY_NAME of os-release, as the kubelet reports it.
func osImage() string {
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
				return strings.Trim(v, `"'`)
			}
		}
	}
	return "Linux"
}
