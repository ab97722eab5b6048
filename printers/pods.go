package printers

import (
	"fmt"
	"io"
	"strconv"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/minikubelet/minikubelet/internal/kuberules"
)

// Options select the pod table's columns.
type Options struct {
	// Wide adds IP, NODE, NOMINATED NODE and READINESS GATES (-o wide).
	Wide bool
	// NoHeaders leaves out the header row (--no-headers).
	NoHeaders bool
	// WithNamespace adds a leading NAMESPACE column (--all-namespaces).
	WithNamespace bool
	// Now is the instant ages are measured from; zero means time.Now().
	Now time.Time
}

// nodeLostReason is the pod status reason the node lifecycle controller sets
// on pods of an unreachable node (node.NodeUnreachablePodReason upstream).
const nodeLostReason = "NodeLost"

// PodHeaders returns the header row of the pod table.
func PodHeaders(opts Options) []string {
	h := []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE"}
	if opts.Wide {
		h = append(h, "IP", "NODE", "NOMINATED NODE", "READINESS GATES")
	}
	if opts.WithNamespace {
		h = append([]string{"NAMESPACE"}, h...)
	}
	return h
}

// PrintPods writes pods as `kubectl get pods` does, in the order given (the
// API returns pods sorted by namespace and name). Like kubectl it prints
// nothing at all, not even the header, when there are no pods: the caller
// reports "No resources found in <ns> namespace." on stderr.
func PrintPods(w io.Writer, pods []*v1.Pod, opts Options) error {
	if len(pods) == 0 {
		return nil
	}
	rows := make([][]string, 0, len(pods)+1)
	if !opts.NoHeaders {
		rows = append(rows, PodHeaders(opts))
	}
	for _, pod := range pods {
		rows = append(rows, PodRow(pod, opts))
	}
	return NewTableWriter(w).WriteRows(rows)
}

// PodRow returns one row of the pod table: NAME READY STATUS RESTARTS AGE,
// then the wide columns when asked for.
//
// The cells follow the API server's printPod (Kubernetes 1.34); see
// summarizePod for READY, STATUS and RESTARTS.
func PodRow(pod *v1.Pod, opts Options) []string {
	now := nowOr(opts.Now)
	s := summarizePod(pod)
	restarts := strconv.Itoa(s.restarts)
	if s.restarts != 0 && !s.lastRestart.IsZero() {
		restarts = fmt.Sprintf("%d (%s ago)", s.restarts, TranslateTimestampSince(s.lastRestart, now))
	}
	row := []string{
		pod.Name,
		fmt.Sprintf("%d/%d", s.ready, s.total),
		s.reason,
		restarts,
		TranslateTimestampSince(pod.CreationTimestamp, now),
	}
	if opts.Wide {
		row = append(row, wideCells(pod)...)
	}
	if opts.WithNamespace {
		row = append([]string{pod.Namespace}, row...)
	}
	return row
}

// PodStatus returns the STATUS column of pod, e.g. Running, Init:1/2,
// CrashLoopBackOff or Terminating.
func PodStatus(pod *v1.Pod) string {
	return summarizePod(pod).reason
}

func wideCells(pod *v1.Pod) []string {
	ip := ""
	if len(pod.Status.PodIPs) > 0 {
		ip = pod.Status.PodIPs[0].IP
	}
	gates := "<none>"
	if n := len(pod.Spec.ReadinessGates); n > 0 {
		trueGates := 0
		for _, g := range pod.Spec.ReadinessGates {
			// Only the first condition of the gate's type counts.
			for _, c := range pod.Status.Conditions {
				if c.Type == g.ConditionType {
					if c.Status == v1.ConditionTrue {
						trueGates++
					}
					break
				}
			}
		}
		gates = fmt.Sprintf("%d/%d", trueGates, n)
	}
	return []string{
		orNone(ip),
		orNone(pod.Spec.NodeName),
		orNone(pod.Status.NominatedNodeName),
		gates,
	}
}

// podSummary is what printPod derives from a pod's status.
type podSummary struct {
	reason      string
	ready       int
	total       int
	restarts    int
	lastRestart metav1.Time
}

// summarizePod computes READY, STATUS and RESTARTS as the API server's
// printPod does:
//
//   - STATUS starts as the phase (or status.reason, or SchedulingGated).
//   - Init container statuses are walked in order. A container that exited 0
//     is done; a started sidecar (restartPolicy Always) counts towards READY.
//     The first other one decides: Init:<reason>, Init:Signal:<n>,
//     Init:ExitCode:<n>, Init:<waiting reason> (PodInitializing excepted) or
//     Init:<i>/<n>.
//   - Unless an init container is still in the way (and the Initialized
//     condition is not True), app container statuses are walked from last to
//     first, so the first container in spec order with a waiting or
//     terminated reason wins. Restarts of finished regular init containers
//     are then dropped; sidecar restarts stay.
//   - Completed with a still-running ready container reads Running when the
//     pod is Ready, NotReady otherwise.
//   - A deleting pod reads Terminating unless its phase is terminal, or
//     Unknown when its node was lost.
func summarizePod(pod *v1.Pod) podSummary {
	s := podSummary{total: len(pod.Spec.Containers)}
	var sidecarRestarts int
	var lastSidecarRestart metav1.Time

	phase := pod.Status.Phase
	s.reason = string(phase)
	if pod.Status.Reason != "" {
		s.reason = pod.Status.Reason
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == v1.PodScheduled && c.Reason == v1.PodReasonSchedulingGated {
			s.reason = v1.PodReasonSchedulingGated
		}
	}

	sidecars := map[string]bool{}
	for i := range pod.Spec.InitContainers {
		if kuberules.IsSidecar(&pod.Spec.InitContainers[i]) {
			sidecars[pod.Spec.InitContainers[i].Name] = true
			s.total++
		}
	}

	initializing := false
	for i, cs := range pod.Status.InitContainerStatuses {
		s.restarts += int(cs.RestartCount)
		laterOf(&s.lastRestart, cs.LastTerminationState)
		sidecar := sidecars[cs.Name]
		if sidecar {
			sidecarRestarts += int(cs.RestartCount)
			laterOf(&lastSidecarRestart, cs.LastTerminationState)
		}
		t, w := cs.State.Terminated, cs.State.Waiting
		if t != nil && t.ExitCode == 0 {
			continue
		}
		if sidecar && cs.Started != nil && *cs.Started {
			if cs.Ready {
				s.ready++
			}
			continue
		}
		switch {
		case t != nil:
			switch {
			case t.Reason != "":
				s.reason = "Init:" + t.Reason
			case t.Signal != 0:
				s.reason = fmt.Sprintf("Init:Signal:%d", t.Signal)
			default:
				s.reason = fmt.Sprintf("Init:ExitCode:%d", t.ExitCode)
			}
		case w != nil && w.Reason != "" && w.Reason != "PodInitializing":
			s.reason = "Init:" + w.Reason
		default:
			s.reason = fmt.Sprintf("Init:%d/%d", i, len(pod.Spec.InitContainers))
		}
		initializing = true
		break
	}

	if !initializing || conditionTrue(pod.Status.Conditions, v1.PodInitialized) {
		s.restarts = sidecarRestarts
		s.lastRestart = lastSidecarRestart
		hasRunning := false
		for i := len(pod.Status.ContainerStatuses) - 1; i >= 0; i-- {
			cs := pod.Status.ContainerStatuses[i]
			s.restarts += int(cs.RestartCount)
			laterOf(&s.lastRestart, cs.LastTerminationState)
			t, w := cs.State.Terminated, cs.State.Waiting
			switch {
			case w != nil && w.Reason != "":
				s.reason = w.Reason
			case t != nil && t.Reason != "":
				s.reason = t.Reason
			case t != nil && t.Signal != 0:
				s.reason = fmt.Sprintf("Signal:%d", t.Signal)
			case t != nil:
				s.reason = fmt.Sprintf("ExitCode:%d", t.ExitCode)
			case cs.Ready && cs.State.Running != nil:
				hasRunning = true
				s.ready++
			}
		}
		if s.reason == "Completed" && hasRunning {
			if anyConditionTrue(pod.Status.Conditions, v1.PodReady) {
				s.reason = "Running"
			} else {
				s.reason = "NotReady"
			}
		}
	}

	if pod.DeletionTimestamp != nil {
		if pod.Status.Reason == nodeLostReason {
			s.reason = "Unknown"
		} else if phase != v1.PodSucceeded && phase != v1.PodFailed {
			s.reason = "Terminating"
		}
	}
	return s
}

// laterOf moves *last forward to the finish time of a last termination.
func laterOf(last *metav1.Time, st v1.ContainerState) {
	if st.Terminated == nil {
		return
	}
	if fin := st.Terminated.FinishedAt; last.Before(&fin) {
		*last = fin
	}
}

// conditionTrue reports whether the first condition of type t is True, the
// way printPod's helpers look conditions up.
func conditionTrue(conds []v1.PodCondition, t v1.PodConditionType) bool {
	for _, c := range conds {
		if c.Type == t {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

// anyConditionTrue reports whether some condition of type t is True.
func anyConditionTrue(conds []v1.PodCondition, t v1.PodConditionType) bool {
	for _, c := range conds {
		if c.Type == t && c.Status == v1.ConditionTrue {
			return true
		}
	}
	return false
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
