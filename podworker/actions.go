package podworker

import (
	"fmt"
	"slices"

	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/internal/kuberules"
	"github.com/minikubelet/minikubelet/runtime"
)

// podActions is what one sync must do, decided by computePodActions from
// the desired pod and what containerd holds. It mirrors the kubelet's
// kuberuntime podActions.
type podActions struct {
	// KillPod stops every container and sandbox of the pod.
	KillPod bool
	// CreateSandbox creates a new sandbox (after KillPod when one existed).
	CreateSandbox bool
	// Attempt of the sandbox to create.
	Attempt uint32
	// SandboxID is the ready sandbox containers start in.
	SandboxID string
	// InitContainersToStart are indexes into spec.initContainers, in spec
	// order: the next init container, and sidecars to (re)start.
	InitContainersToStart []int
	// ContainersToStart are indexes into spec.containers.
	ContainersToStart []int
	// ContainersToKill maps container IDs to why they are killed.
	ContainersToKill map[string]killInfo
	// Terminal is set when nothing runs and nothing will be started again:
	// the pod has finished.
	Terminal bool
}

type killInfo struct {
	name    string
	message string
	// probe is "liveness" or "startup" when a probe failure caused the kill.
	probe string
}

// probeView is what computePodActions needs from the prober.
type probeView interface {
	// Failed returns "liveness" or "startup" when a committed failure of
	// that probe asks to restart the container instance, "" otherwise.
	Failed(containerID string) string
	// Started reports whether a container instance counts as started
	// (its startup probe, if any, has succeeded).
	Started(c *v1.Container, containerID string) bool
}

// noProbes is the view of a pod without a prober: nothing fails, running
// containers are started.
type noProbes struct{}

func (noProbes) Failed(string) string                   { return "" }
func (noProbes) Started(c *v1.Container, _ string) bool { return c.StartupProbe == nil }

// latest returns the newest instance of the named container.
func latest(ps *runtime.PodState, name string) *runtime.Container {
	for i := range ps.Containers {
		if ps.Containers[i].Name == name {
			return &ps.Containers[i]
		}
	}
	return nil
}

// latestExited returns the newest exited instance of the named container.
func latestExited(ps *runtime.PodState, name string) *runtime.Container {
	for i := range ps.Containers {
		if c := &ps.Containers[i]; c.Name == name && c.State == runtime.StateExited {
			return c
		}
	}
	return nil
}

// shouldRestart is the kubelet's ShouldContainerBeRestarted for a stopped
// instance.
func shouldRestart(pod *v1.Pod, c *runtime.Container) bool {
	switch pod.Spec.RestartPolicy {
	case v1.RestartPolicyNever:
		return false
	case v1.RestartPolicyOnFailure:
		return c.ExitCode != 0
	}
	return true
}

// sandboxChanged reports whether a new sandbox is needed, and the attempt
// number it gets.
func sandboxChanged(ps *runtime.PodState) (bool, uint32) {
	if len(ps.Sandboxes) == 0 {
		return true, 0
	}
	ready := 0
	for _, sb := range ps.Sandboxes {
		if sb.Ready {
			ready++
		}
	}
	sb := ps.Sandboxes[0]
	if ready > 1 || !sb.Ready || len(sb.IPs) == 0 {
		return true, sb.Attempt + 1
	}
	return false, sb.Attempt
}

// anyAppStarted reports whether an app container ever ran in the pod; once
// one has, completed init containers are never run again in that sandbox.
func anyAppStarted(pod *v1.Pod, ps *runtime.PodState) bool {
	for i := range pod.Spec.Containers {
		if c := latest(ps, pod.Spec.Containers[i].Name); c != nil && c.State != runtime.StateCreated {
			return true
		}
	}
	return false
}

// anyAppActive is the kubelet's podHasInitialized: an app container is
// created or running. Exited ones do not count, since after a node reboot
// every container is exited and the new sandbox is not initialized.
func anyAppActive(pod *v1.Pod, ps *runtime.PodState) bool {
	for i := range pod.Spec.Containers {
		if c := latest(ps, pod.Spec.Containers[i].Name); c != nil && (c.State == runtime.StateCreated || c.State == runtime.StateRunning) {
			return true
		}
	}
	return false
}

// computePodActions decides what to do next, following the kubelet's
// computePodActions / computeInitContainerActions. It has no side effects.
func computePodActions(pod *v1.Pod, ps *runtime.PodState, probes probeView) podActions {
	acts := podActions{ContainersToKill: map[string]killInfo{}}

	if changed, attempt := sandboxChanged(ps); changed {
		if pod.Spec.RestartPolicy == v1.RestartPolicyNever && len(ps.Sandboxes) > 0 && len(ps.Containers) > 0 {
			// A pod that must not restart is not given a second sandbox.
			acts.KillPod = true
			acts.Terminal = true
			return acts
		}
		for i := range pod.Spec.Containers {
			c := latest(ps, pod.Spec.Containers[i].Name)
			if pod.Spec.RestartPolicy == v1.RestartPolicyOnFailure && c != nil && c.State == runtime.StateExited && c.ExitCode == 0 {
				continue
			}
			acts.ContainersToStart = append(acts.ContainersToStart, i)
		}
		if len(acts.ContainersToStart) == 0 && anyAppStarted(pod, ps) {
			acts.KillPod = len(ps.Sandboxes) > 0
			acts.Terminal = true
			return acts
		}
		acts.KillPod = len(ps.Sandboxes) > 0
		acts.CreateSandbox = true
		acts.Attempt = attempt
		if len(pod.Spec.InitContainers) > 0 {
			acts.InitContainersToStart = []int{0}
			acts.ContainersToStart = nil
		}
		return acts
	}
	acts.SandboxID = ps.Sandboxes[0].ID

	initialized, failedInit := computeInitActions(pod, ps, probes, &acts)
	if failedInit {
		acts.KillPod = true
		acts.Terminal = true
		return acts
	}
	if !initialized {
		return acts
	}

	keep := 0
	for i := range pod.Spec.Containers {
		spec := &pod.Spec.Containers[i]
		c := latest(ps, spec.Name)
		switch {
		case c == nil:
			acts.ContainersToStart = append(acts.ContainersToStart, i)
		case c.State == runtime.StateRunning:
			if changed(spec, c) {
				// Updated in place (a new image): restarted whatever the
				// restart policy, as by the kubelet.
				acts.ContainersToKill[c.ID] = killInfo{name: spec.Name, message: killMessage(spec.Name, "definition changed", true)}
				acts.ContainersToStart = append(acts.ContainersToStart, i)
				continue
			}
			if probe := probes.Failed(c.ID); probe != "" {
				restart := pod.Spec.RestartPolicy != v1.RestartPolicyNever
				acts.ContainersToKill[c.ID] = killInfo{name: spec.Name, probe: probe,
					message: killMessage(spec.Name, "failed "+probe+" probe", restart)}
				if restart {
					acts.ContainersToStart = append(acts.ContainersToStart, i)
				}
				continue
			}
			keep++
		case c.State == runtime.StateCreated || c.State == runtime.StateUnknown:
			acts.ContainersToKill[c.ID] = killInfo{name: spec.Name, message: killMessage(spec.Name, "is in state "+string(c.State), true)}
			acts.ContainersToStart = append(acts.ContainersToStart, i)
		case shouldRestart(pod, c):
			acts.ContainersToStart = append(acts.ContainersToStart, i)
		}
	}
	if keep == 0 && len(acts.ContainersToStart) == 0 {
		// Nothing runs and nothing will: stop the sandbox, and the
		// sidecars with it, which must not keep the pod alive.
		acts.KillPod = true
		acts.Terminal = true
		acts.InitContainersToStart = nil
	}
	return acts
}

// computeInitActions is the kubelet's computeInitContainerActions (the
// SidecarContainers path): it walks the init containers from the last one
// back, so that init containers whose records are gone do not run again, and
// collects what to start: the next init container once the one before it is
// initialized (exited 0, or a sidecar running and started), and every
// sidecar that is not running. It reports whether the pod is initialized,
// and whether a failed regular init container ends the pod (restartPolicy
// Never).
func computeInitActions(pod *v1.Pod, ps *runtime.PodState, probes probeView, acts *podActions) (initialized, failed bool) {
	inits := pod.Spec.InitContainers
	if len(inits) == 0 {
		return true, false
	}
	// An app container created or running means init ran at some point,
	// even if its records are gone; only sidecars are kept going then.
	initialized = anyAppActive(pod, ps)
	previous := initialized // the init container before the current one is initialized
	restartOnFailure := pod.Spec.RestartPolicy != v1.RestartPolicyNever
	var toStart []int
	kill := func(c *runtime.Container, name, message string, probe string) {
		acts.ContainersToKill[c.ID] = killInfo{name: name, probe: probe, message: message}
	}
	for i := len(inits) - 1; i >= 0; i-- {
		spec := &inits[i]
		sidecar := kuberules.IsSidecar(spec)
		c := latest(ps, spec.Name)
		if c == nil {
			if previous && sidecar {
				toStart = append(toStart, i)
			}
			continue
		}
		if previous && !sidecar {
			continue
		}
		switch c.State {
		case runtime.StateCreated:
			// Created but never started: start a fresh instance, after
			// removing this one from the way.
			kill(c, spec.Name, killMessage(spec.Name, "is in state "+string(c.State), true), "")
			toStart = append(toStart, i)
		case runtime.StateRunning:
			if !sidecar {
				break // a regular init container: wait for it to finish
			}
			probe := probes.Failed(c.ID)
			if probe == "startup" {
				kill(c, spec.Name, fmt.Sprintf("Init container %s failed startup probe", spec.Name), probe)
				toStart = append(toStart, i)
				break
			}
			if !probes.Started(spec, c.ID) {
				break // wait for its startup probe
			}
			if i == len(inits)-1 {
				initialized = true
			} else if !previous {
				toStart = append(toStart, i+1)
			}
			if changed(spec, c) {
				// Updated in place (a new image): a started sidecar is
				// restarted as an app container is, while completed
				// regular init containers are left alone.
				kill(c, spec.Name, fmt.Sprintf("Init container %s definition changed", spec.Name), "")
				toStart = append(toStart, i)
				break
			}
			if probe == "liveness" {
				kill(c, spec.Name, fmt.Sprintf("Init container %s failed liveness probe", spec.Name), probe)
				toStart = append(toStart, i)
			}
		case runtime.StateExited:
			if sidecar {
				// Sidecars restart whatever their exit code.
				toStart = append(toStart, i)
				break
			}
			if c.ExitCode != 0 || c.Reason == "OOMKilled" {
				if !restartOnFailure {
					return false, true
				}
				toStart = append(toStart, i)
				break
			}
			if i == len(inits)-1 {
				initialized = true
			} else {
				toStart = append(toStart, i+1)
			}
		default: // unknown: kill it before starting it again
			if !sidecar && !restartOnFailure {
				return false, true
			}
			kill(c, spec.Name, fmt.Sprintf("Init container is in %q state, try killing it before restart", c.State), "")
			toStart = append(toStart, i)
		}
		previous = true
	}
	if !previous {
		toStart = append(toStart, 0) // nothing ran yet: start the first one
	}
	slices.Reverse(toStart)
	acts.InitContainersToStart = toStart
	return initialized, false
}

// changed is the kubelet's containerChanged: the running instance c was
// made from another definition of spec (an instance from before spec
// hashes were recorded counts as unchanged).
func changed(spec *v1.Container, c *runtime.Container) bool {
	return c.SpecHash != "" && c.SpecHash != specHash(spec)
}

func killMessage(name, why string, restart bool) string {
	m := fmt.Sprintf("Container %s %s", name, why)
	if restart {
		m += ", will be restarted"
	}
	return m
}
