package podworker

import (
	"fmt"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minikubelet/minikubelet/internal/kuberules"
	"github.com/minikubelet/minikubelet/runtime"
)

// waitReason is why a container that should run is waiting (the kubelet's
// reasonCache entry): CrashLoopBackOff, ErrImagePull, RunContainerError …
type waitReason struct {
	Reason, Message string
}

// containerStatuses builds the init and app container statuses from the
// runtime's instances, newest first. ready and started get the kubelet's
// defaults for a pod without probes; the prober refines them afterwards.
func containerStatuses(pod *v1.Pod, ps *runtime.PodState, reasons map[string]waitReason) (initSt, appSt []v1.ContainerStatus) {
	hasInit := len(pod.Spec.InitContainers) > 0
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		st := containerStatus(c, ps, reasons, hasInit)
		if kuberules.IsSidecar(c) {
			st.Ready = st.State.Running != nil
		} else {
			st.Ready = kuberules.InitContainerReady(st.State)
		}
		initSt = append(initSt, st)
	}
	for i := range pod.Spec.Containers {
		st := containerStatus(&pod.Spec.Containers[i], ps, reasons, hasInit)
		st.Ready = st.State.Running != nil
		appSt = append(appSt, st)
	}
	capTerminationMessages(pod, initSt, appSt)
	return initSt, appSt
}

// maxPodTerminationMessages is the kubelet's
// MaxPodTerminationMessageLogLength: all the termination messages of a pod
// share 12 KiB, evenly among its containers.
const maxPodTerminationMessages = 12 << 10

// capTerminationMessages cuts each terminated state's message to its
// container's share, as the kubelet's status manager does (normalizeStatus).
func capTerminationMessages(pod *v1.Pod, lists ...[]v1.ContainerStatus) {
	share := maxPodTerminationMessages
	if n := len(pod.Spec.Containers) + len(pod.Spec.InitContainers); n > 0 {
		share /= n
	}
	for _, list := range lists {
		for i := range list {
			for _, t := range []*v1.ContainerStateTerminated{list[i].State.Terminated, list[i].LastTerminationState.Terminated} {
				if t != nil && len(t.Message) > share {
					t.Message = t.Message[:share]
				}
			}
		}
	}
}

func containerStatus(spec *v1.Container, ps *runtime.PodState, reasons map[string]waitReason, hasInit bool) v1.ContainerStatus {
	st := v1.ContainerStatus{Name: spec.Name, Image: spec.Image}
	var instances []*runtime.Container
	for i := range ps.Containers {
		if ps.Containers[i].Name == spec.Name {
			instances = append(instances, &ps.Containers[i])
		}
	}
	why, hasWhy := reasons[spec.Name]
	if len(instances) == 0 {
		st.State.Waiting = &v1.ContainerStateWaiting{Reason: "ContainerCreating"}
		if hasInit {
			st.State.Waiting.Reason = "PodInitializing"
		}
		if hasWhy {
			st.State.Waiting = &v1.ContainerStateWaiting{Reason: why.Reason, Message: why.Message}
		}
		return st
	}
	cur := instances[0]
	st.ContainerID = kuberules.StatusContainerID(cur.ID)
	st.RestartCount = cur.RestartCount
	if cur.ImageRef != "" {
		st.Image = cur.ImageRef
	}
	st.ImageID = cur.ImageID
	started := false
	switch cur.State {
	case runtime.StateRunning:
		st.State.Running = &v1.ContainerStateRunning{StartedAt: metav1.NewTime(cur.StartedAt)}
		started = true
	case runtime.StateExited:
		st.State.Terminated = terminated(cur)
	default:
		st.State.Waiting = &v1.ContainerStateWaiting{}
	}
	st.Started = &started
	prev := instances[1:]
	if hasWhy && cur.State != runtime.StateRunning {
		// The container is due to start again: it waits, and the instance
		// that just ended becomes the last state.
		st.State = v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: why.Reason, Message: why.Message}}
		prev = instances
	}
	for _, p := range prev {
		if p.State == runtime.StateExited {
			st.LastTerminationState.Terminated = terminated(p)
			break
		}
	}
	return st
}

func terminated(c *runtime.Container) *v1.ContainerStateTerminated {
	return &v1.ContainerStateTerminated{
		ExitCode:    c.ExitCode,
		Reason:      c.Reason,
		Message:     c.Message,
		StartedAt:   metav1.NewTime(c.StartedAt),
		FinishedAt:  metav1.NewTime(c.FinishedAt),
		ContainerID: kuberules.StatusContainerID(c.ID),
	}
}

// podPhase is the kubelet's getPhase for a static pod (§1.1 of the
// behaviour reference). podIsTerminal only matters for API pods, so it is
// not an input here.
func podPhase(spec *v1.PodSpec, initSt, appSt []v1.ContainerStatus) v1.PodPhase {
	pendingInit, failedInit := 0, 0
	pendingSidecar := 0
	running, unknown, waiting, stopped, succeeded := 0, 0, 0, 0, 0

	byName := map[string]*v1.ContainerStatus{}
	for i := range initSt {
		byName[initSt[i].Name] = &initSt[i]
	}
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		st, ok := byName[c.Name]
		if kuberules.IsSidecar(c) {
			switch {
			case !ok:
				unknown++
			case st.State.Running != nil:
				running++
				if st.Started == nil || !*st.Started {
					pendingSidecar++
				}
			case st.State.Waiting != nil && st.LastTerminationState.Terminated == nil:
				pendingSidecar++
				waiting++
			}
			continue
		}
		switch {
		case !ok, st.State.Running != nil:
			pendingInit++
		case st.State.Terminated != nil:
			if st.State.Terminated.ExitCode != 0 {
				failedInit++
			}
		case st.State.Waiting != nil:
			if lt := st.LastTerminationState.Terminated; lt != nil {
				if lt.ExitCode != 0 {
					failedInit++
				}
			} else {
				pendingInit++
			}
		}
	}

	initialized := false
	for i := range appSt {
		st := &appSt[i]
		if st.State.Running != nil || st.State.Terminated != nil || st.LastTerminationState.Terminated != nil {
			initialized = true
		}
		switch {
		case st.State.Running != nil:
			running++
		case st.State.Terminated != nil:
			stopped++
			if st.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case st.State.Waiting != nil && st.LastTerminationState.Terminated != nil:
			stopped++
		case st.State.Waiting != nil:
			waiting++
		default:
			unknown++
		}
	}
	unknown += len(spec.Containers) - len(appSt)

	switch {
	case failedInit > 0 && spec.RestartPolicy == v1.RestartPolicyNever:
		return v1.PodFailed
	case pendingInit > 0 || (pendingSidecar > 0 && !initialized) || waiting > 0:
		return v1.PodPending
	case running > 0 && unknown == 0:
		return v1.PodRunning
	case running == 0 && stopped > 0 && unknown == 0:
		switch {
		case spec.RestartPolicy == v1.RestartPolicyAlways:
			return v1.PodRunning
		case stopped == succeeded:
			return v1.PodSucceeded
		case spec.RestartPolicy == v1.RestartPolicyNever:
			return v1.PodFailed
		}
		return v1.PodRunning
	}
	return v1.PodPending
}

// podConditions returns the kubelet's conditions in its order.
func podConditions(pod *v1.Pod, phase v1.PodPhase, sandboxReady bool, initSt, appSt []v1.ContainerStatus) []v1.PodCondition {
	cond := func(t v1.PodConditionType, ok bool, reason, msg string) v1.PodCondition {
		c := v1.PodCondition{Type: t, Status: v1.ConditionTrue}
		if !ok {
			c.Status, c.Reason, c.Message = v1.ConditionFalse, reason, msg
		}
		return c
	}
	out := []v1.PodCondition{cond(v1.PodReadyToStartContainers, sandboxReady, "", "")}

	// Initialized.
	var incomplete []string
	anyStarted := false
	for _, st := range appSt {
		if st.State.Running != nil || st.State.Terminated != nil {
			anyStarted = true
		}
	}
	for i, st := range initSt {
		c := &pod.Spec.InitContainers[i]
		if kuberules.IsSidecar(c) {
			if st.Started == nil || !*st.Started {
				incomplete = append(incomplete, st.Name)
			}
		} else if !st.Ready {
			incomplete = append(incomplete, st.Name)
		}
	}
	switch {
	case phase == v1.PodSucceeded:
		out = append(out, v1.PodCondition{Type: v1.PodInitialized, Status: v1.ConditionTrue, Reason: "PodCompleted"})
	default:
		out = append(out, cond(v1.PodInitialized, len(incomplete) == 0 || anyStarted,
			"ContainersNotInitialized", fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(incomplete, " "))))
	}

	// ContainersReady and Ready.
	var unready []string
	for i, st := range initSt {
		if kuberules.IsSidecar(&pod.Spec.InitContainers[i]) && !st.Ready {
			unready = append(unready, st.Name)
		}
	}
	for _, st := range appSt {
		if !st.Ready {
			unready = append(unready, st.Name)
		}
	}
	var cr v1.PodCondition
	switch phase {
	case v1.PodSucceeded:
		cr = v1.PodCondition{Type: v1.ContainersReady, Status: v1.ConditionFalse, Reason: "PodCompleted"}
	case v1.PodFailed:
		cr = v1.PodCondition{Type: v1.ContainersReady, Status: v1.ConditionFalse, Reason: "PodFailed"}
	default:
		cr = cond(v1.ContainersReady, len(unready) == 0, "ContainersNotReady",
			fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " ")))
	}
	ready := cr
	ready.Type = v1.PodReady
	if cr.Status == v1.ConditionTrue && len(pod.Spec.ReadinessGates) > 0 {
		// No controller here sets readiness-gate conditions.
		ready.Status, ready.Reason = v1.ConditionFalse, "ReadinessGatesNotReady"
		ready.Message = fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", pod.Spec.ReadinessGates[0].ConditionType)
	}
	out = append(out, ready, cr, v1.PodCondition{Type: v1.PodScheduled, Status: v1.ConditionTrue})
	return out
}

// carryTransitionTimes keeps each condition's lastTransitionTime while its
// status is unchanged, and stamps now on the ones that changed.
func carryTransitionTimes(conds []v1.PodCondition, old []v1.PodCondition, now time.Time) {
	for i := range conds {
		conds[i].LastTransitionTime = metav1.NewTime(now)
		for _, o := range old {
			if o.Type == conds[i].Type && o.Status == conds[i].Status {
				conds[i].LastTransitionTime = o.LastTransitionTime
			}
		}
	}
}
