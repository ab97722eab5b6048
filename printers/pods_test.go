package printers

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var now = time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

func ptr[T any](v T) *T { return &v }

// Container state shorthands.
func waiting(reason string) v1.ContainerState {
	return v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: reason}}
}

func running() v1.ContainerState {
	return v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: ago(time.Minute)}}
}

func exited(reason string, code, signal int32) v1.ContainerState {
	return v1.ContainerState{Terminated: &v1.ContainerStateTerminated{
		Reason: reason, ExitCode: code, Signal: signal, FinishedAt: ago(2 * time.Minute),
	}}
}

// lastExit is a last termination state that finished d ago.
func lastExit(d time.Duration) v1.ContainerState {
	return v1.ContainerState{Terminated: &v1.ContainerStateTerminated{Reason: "Error", ExitCode: 1, FinishedAt: ago(d)}}
}

type cst = v1.ContainerStatus

func cond(t v1.PodConditionType, s v1.ConditionStatus) v1.PodCondition {
	return v1.PodCondition{Type: t, Status: s}
}

// mkPod builds a pod with app containers named after their statuses (or
// nApps containers without status), plus init containers.
func mkPod(phase v1.PodPhase, inits []cst, apps []cst, nApps int) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", CreationTimestamp: ago(5 * time.Minute)},
		Status:     v1.PodStatus{Phase: phase, InitContainerStatuses: inits, ContainerStatuses: apps},
	}
	for _, s := range inits {
		p.Spec.InitContainers = append(p.Spec.InitContainers, v1.Container{Name: s.Name})
	}
	for _, s := range apps {
		p.Spec.Containers = append(p.Spec.Containers, v1.Container{Name: s.Name})
	}
	for i := len(apps); i < nApps; i++ {
		p.Spec.Containers = append(p.Spec.Containers, v1.Container{Name: "c" + string(rune('0'+i))})
	}
	return p
}

// deadlinePod is a pod the kubelet failed for activeDeadlineSeconds, with
// its one container in state st.
func deadlinePod(st v1.ContainerState) *v1.Pod {
	p := mkPod(v1.PodFailed, nil, []cst{{Name: "a", State: st}}, 0)
	p.Status.Reason = "DeadlineExceeded"
	return p
}

func TestPodRowStatus(t *testing.T) {
	tests := []struct {
		name string
		pod  *v1.Pod
		// want holds READY, STATUS, RESTARTS.
		want [3]string
	}{
		{"pending without statuses", mkPod(v1.PodPending, nil, nil, 1),
			[3]string{"0/1", "Pending", "0"}},
		{"container creating", mkPod(v1.PodPending, nil, []cst{{Name: "a", State: waiting("ContainerCreating")}}, 0),
			[3]string{"0/1", "ContainerCreating", "0"}},
		{"running and ready", mkPod(v1.PodRunning, nil, []cst{{Name: "a", State: running(), Ready: true}}, 0),
			[3]string{"1/1", "Running", "0"}},
		{"running, not ready", mkPod(v1.PodRunning, nil, []cst{{Name: "a", State: running()}}, 0),
			[3]string{"0/1", "Running", "0"}},
		{"crash loop with restart age", mkPod(v1.PodRunning, nil, []cst{
			{Name: "a", State: waiting("CrashLoopBackOff"), RestartCount: 3, LastTerminationState: lastExit(2 * time.Minute)},
		}, 0), [3]string{"0/1", "CrashLoopBackOff", "3 (2m ago)"}},
		{"restarts without a known last exit", mkPod(v1.PodRunning, nil, []cst{
			{Name: "a", State: running(), Ready: true, RestartCount: 5},
		}, 0), [3]string{"1/1", "Running", "5"}},
		{"latest exit of all containers", mkPod(v1.PodRunning, nil, []cst{
			{Name: "a", State: running(), Ready: true, RestartCount: 1, LastTerminationState: lastExit(3 * time.Hour)},
			{Name: "b", State: running(), Ready: true, RestartCount: 2, LastTerminationState: lastExit(90 * time.Second)},
		}, 0), [3]string{"2/2", "Running", "3 (90s ago)"}},
		{"err image pull", mkPod(v1.PodPending, nil, []cst{{Name: "a", State: waiting("ErrImagePull")}}, 0),
			[3]string{"0/1", "ErrImagePull", "0"}},
		{"image pull backoff", mkPod(v1.PodPending, nil, []cst{{Name: "a", State: waiting("ImagePullBackOff")}}, 0),
			[3]string{"0/1", "ImagePullBackOff", "0"}},
		{"completed", mkPod(v1.PodSucceeded, nil, []cst{{Name: "a", State: exited("Completed", 0, 0)}}, 0),
			[3]string{"0/1", "Completed", "0"}},
		{"error", mkPod(v1.PodFailed, nil, []cst{{Name: "a", State: exited("Error", 1, 0)}}, 0),
			[3]string{"0/1", "Error", "0"}},
		// activeDeadlineSeconds: printPod starts from status.reason
		// (DeadlineExceeded) but a container's terminated reason replaces it,
		// so a pod whose container was killed (137, containerd's reason
		// "Error") reads Error on a real cluster, and one whose container
		// left on SIGTERM with 0 reads Completed. Only while no container
		// status carries a reason does DeadlineExceeded show
		// (k8s pkg/printers/internalversion/printers.go printPod).
		{"deadline exceeded, container killed", deadlinePod(exited("Error", 137, 0)),
			[3]string{"0/1", "Error", "0"}},
		{"deadline exceeded, container left with 0", deadlinePod(exited("Completed", 0, 0)),
			[3]string{"0/1", "Completed", "0"}},
		{"deadline exceeded, container still running", deadlinePod(running()),
			[3]string{"0/1", "DeadlineExceeded", "0"}},
		{"oom killed", mkPod(v1.PodFailed, nil, []cst{{Name: "a", State: exited("OOMKilled", 137, 0)}}, 0),
			[3]string{"0/1", "OOMKilled", "0"}},
		{"exit code without reason", mkPod(v1.PodFailed, nil, []cst{{Name: "a", State: exited("", 2, 0)}}, 0),
			[3]string{"0/1", "ExitCode:2", "0"}},
		{"signal without reason", mkPod(v1.PodFailed, nil, []cst{{Name: "a", State: exited("", 137, 9)}}, 0),
			[3]string{"0/1", "Signal:9", "0"}},
		{"first container in spec order wins", mkPod(v1.PodPending, nil, []cst{
			{Name: "a", State: waiting("CrashLoopBackOff")},
			{Name: "b", State: waiting("ErrImagePull")},
		}, 0), [3]string{"0/2", "CrashLoopBackOff", "0"}},
		{"completed next to a running container, pod not ready", func() *v1.Pod {
			p := mkPod(v1.PodRunning, nil, []cst{
				{Name: "a", State: running(), Ready: true},
				{Name: "b", State: exited("Completed", 0, 0)},
			}, 0)
			p.Status.Conditions = []v1.PodCondition{cond(v1.PodReady, v1.ConditionFalse)}
			return p
		}(), [3]string{"1/2", "NotReady", "0"}},
		{"completed next to a running container, pod ready", func() *v1.Pod {
			p := mkPod(v1.PodRunning, nil, []cst{
				{Name: "a", State: running(), Ready: true},
				{Name: "b", State: exited("Completed", 0, 0)},
			}, 0)
			p.Status.Conditions = []v1.PodCondition{cond(v1.PodReady, v1.ConditionTrue)}
			return p
		}(), [3]string{"1/2", "Running", "0"}},
		{"init 0/2 while the first runs", mkPod(v1.PodPending, []cst{
			{Name: "i1", State: running()},
			{Name: "i2", State: waiting("PodInitializing")},
		}, []cst{{Name: "a", State: waiting("PodInitializing")}}, 0), [3]string{"0/1", "Init:0/2", "0"}},
		{"init 1/2 after the first succeeded", mkPod(v1.PodPending, []cst{
			{Name: "i1", State: exited("Completed", 0, 0)},
			{Name: "i2", State: running()},
		}, []cst{{Name: "a", State: waiting("PodInitializing")}}, 0), [3]string{"0/1", "Init:1/2", "0"}},
		{"init waiting PodInitializing counts as not started", mkPod(v1.PodPending, []cst{
			{Name: "i1", State: waiting("PodInitializing")},
		}, nil, 1), [3]string{"0/1", "Init:0/1", "0"}},
		{"init error", mkPod(v1.PodPending, []cst{
			{Name: "i1", State: exited("Error", 1, 0)},
		}, nil, 1), [3]string{"0/1", "Init:Error", "0"}},
		{"init exit code", mkPod(v1.PodPending, []cst{
			{Name: "i1", State: exited("", 3, 0)},
		}, nil, 1), [3]string{"0/1", "Init:ExitCode:3", "0"}},
		{"init signal", mkPod(v1.PodPending, []cst{
			{Name: "i1", State: exited("", 137, 9)},
		}, nil, 1), [3]string{"0/1", "Init:Signal:9", "0"}},
		{"init oom", mkPod(v1.PodFailed, []cst{
			{Name: "i1", State: exited("OOMKilled", 137, 0)},
		}, nil, 1), [3]string{"0/1", "Init:OOMKilled", "0"}},
		{"init crash loop counts init restarts", mkPod(v1.PodPending, []cst{
			{Name: "i1", State: waiting("CrashLoopBackOff"), RestartCount: 2, LastTerminationState: lastExit(30 * time.Second)},
		}, []cst{{Name: "a", State: waiting("PodInitializing")}}, 0), [3]string{"0/1", "Init:CrashLoopBackOff", "2 (30s ago)"}},
		{"init err image pull", mkPod(v1.PodPending, []cst{
			{Name: "i1", State: waiting("ErrImagePull")},
		}, nil, 1), [3]string{"0/1", "Init:ErrImagePull", "0"}},
		{"pod initializing after init", func() *v1.Pod {
			p := mkPod(v1.PodPending, []cst{{Name: "i1", State: exited("Completed", 0, 0)}},
				[]cst{{Name: "a", State: waiting("PodInitializing")}}, 0)
			p.Status.Conditions = []v1.PodCondition{cond(v1.PodInitialized, v1.ConditionTrue)}
			return p
		}(), [3]string{"0/1", "PodInitializing", "0"}},
		{"init restarts are dropped once initialized", mkPod(v1.PodRunning, []cst{
			{Name: "i1", State: exited("Completed", 0, 0), RestartCount: 2, LastTerminationState: lastExit(time.Minute)},
		}, []cst{{Name: "a", State: running(), Ready: true}}, 0), [3]string{"1/1", "Running", "0"}},
		// Upstream keeps the init reason (the app walk finds no reason of its
		// own) but counts restarts as for an initialized pod.
		{"initialized pod with a restarting init container", func() *v1.Pod {
			p := mkPod(v1.PodRunning, []cst{
				{Name: "i1", State: waiting("CrashLoopBackOff"), RestartCount: 4},
			}, []cst{{Name: "a", State: running(), Ready: true}}, 0)
			p.Status.Conditions = []v1.PodCondition{cond(v1.PodInitialized, v1.ConditionTrue)}
			return p
		}(), [3]string{"1/1", "Init:CrashLoopBackOff", "0"}},
		{"sidecar counts towards ready and restarts", func() *v1.Pod {
			p := mkPod(v1.PodRunning, []cst{
				{Name: "side", State: running(), Ready: true, Started: ptr(true), RestartCount: 1, LastTerminationState: lastExit(5 * time.Minute)},
			}, []cst{{Name: "a", State: running(), Ready: true}}, 0)
			p.Spec.InitContainers[0].RestartPolicy = ptr(v1.ContainerRestartPolicyAlways)
			return p
		}(), [3]string{"2/2", "Running", "1 (5m ago)"}},
		{"sidecar not yet started blocks init", func() *v1.Pod {
			p := mkPod(v1.PodPending, []cst{
				{Name: "side", State: running(), Started: ptr(false)},
				{Name: "i2", State: waiting("PodInitializing")},
			}, []cst{{Name: "a", State: waiting("PodInitializing")}}, 0)
			p.Spec.InitContainers[0].RestartPolicy = ptr(v1.ContainerRestartPolicyAlways)
			return p
		}(), [3]string{"0/2", "Init:0/2", "0"}},
		{"terminating", func() *v1.Pod {
			p := mkPod(v1.PodRunning, nil, []cst{{Name: "a", State: running(), Ready: true}}, 0)
			p.DeletionTimestamp = ptr(metav1.NewTime(now.Add(30 * time.Second)))
			return p
		}(), [3]string{"1/1", "Terminating", "0"}},
		{"deleted after success is not terminating", func() *v1.Pod {
			p := mkPod(v1.PodSucceeded, nil, []cst{{Name: "a", State: exited("Completed", 0, 0)}}, 0)
			p.DeletionTimestamp = ptr(metav1.NewTime(now))
			return p
		}(), [3]string{"0/1", "Completed", "0"}},
		{"node lost", func() *v1.Pod {
			p := mkPod(v1.PodRunning, nil, []cst{{Name: "a", State: running(), Ready: true}}, 0)
			p.Status.Reason = "NodeLost"
			p.DeletionTimestamp = ptr(metav1.NewTime(now))
			return p
		}(), [3]string{"1/1", "Unknown", "0"}},
		{"status reason", func() *v1.Pod {
			p := mkPod(v1.PodFailed, nil, nil, 1)
			p.Status.Reason = "Evicted"
			return p
		}(), [3]string{"0/1", "Evicted", "0"}},
		{"scheduling gated", func() *v1.Pod {
			p := mkPod(v1.PodPending, nil, nil, 1)
			p.Status.Conditions = []v1.PodCondition{{Type: v1.PodScheduled, Status: v1.ConditionFalse, Reason: "SchedulingGated"}}
			return p
		}(), [3]string{"0/1", "SchedulingGated", "0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := PodRow(tt.pod, Options{Now: now})
			if len(row) != 5 {
				t.Fatalf("row has %d cells, want 5: %q", len(row), row)
			}
			got := [3]string{row[1], row[2], row[3]}
			if got != tt.want {
				t.Errorf("READY/STATUS/RESTARTS = %q, want %q", got, tt.want)
			}
			if row[0] != "p" || row[4] != "5m" {
				t.Errorf("NAME/AGE = %q/%q, want p/5m", row[0], row[4])
			}
			if s := PodStatus(tt.pod); s != tt.want[1] {
				t.Errorf("PodStatus = %q, want %q", s, tt.want[1])
			}
		})
	}
}

func TestPodRowWide(t *testing.T) {
	p := mkPod(v1.PodRunning, nil, []cst{{Name: "a", State: running(), Ready: true}}, 0)
	if got, want := PodRow(p, Options{Now: now, Wide: true})[5:], []string{"<none>", "<none>", "<none>", "<none>"}; !equal(got, want) {
		t.Errorf("empty wide cells = %q, want %q", got, want)
	}
	p.Spec.NodeName = "node1"
	p.Status.PodIP = "10.244.0.9"
	p.Status.PodIPs = []v1.PodIP{{IP: "10.244.0.9"}, {IP: "fd00::9"}}
	p.Status.NominatedNodeName = "node2"
	p.Spec.ReadinessGates = []v1.PodReadinessGate{{ConditionType: "example.com/a"}, {ConditionType: "example.com/b"}}
	p.Status.Conditions = []v1.PodCondition{cond("example.com/a", v1.ConditionTrue), cond("example.com/b", v1.ConditionFalse)}
	if got, want := PodRow(p, Options{Now: now, Wide: true})[5:], []string{"10.244.0.9", "node1", "node2", "1/2"}; !equal(got, want) {
		t.Errorf("wide cells = %q, want %q", got, want)
	}
	if got := PodRow(p, Options{Now: now, WithNamespace: true})[0]; got != "default" {
		t.Errorf("namespace cell = %q", got)
	}
}

func equal(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00")
}

func namedPod(name string, phase v1.PodPhase, apps ...cst) *v1.Pod {
	p := mkPod(phase, nil, apps, 0)
	p.Name = name
	return p
}

func TestPrintPods(t *testing.T) {
	nginx := namedPod("nginx", v1.PodRunning, cst{Name: "nginx", State: running(), Ready: true})
	nginx.CreationTimestamp = ago(10 * time.Second)
	crash := namedPod("crasher-7d9c", v1.PodRunning, cst{
		Name: "c", State: waiting("CrashLoopBackOff"), RestartCount: 12, LastTerminationState: lastExit(75 * time.Second),
	})
	crash.CreationTimestamp = ago(26*time.Hour + 5*time.Minute)
	crash.Spec.NodeName = "node1"
	crash.Status.PodIPs = []v1.PodIP{{IP: "10.244.0.12"}}

	tests := []struct {
		name string
		pods []*v1.Pod
		opts Options
		want string
	}{
		{"one pod", []*v1.Pod{nginx}, Options{Now: now}, "" +
			"NAME    READY   STATUS    RESTARTS   AGE\n" +
			"nginx   1/1     Running   0          10s\n"},
		{"two pods", []*v1.Pod{nginx, crash}, Options{Now: now}, "" +
			"NAME           READY   STATUS             RESTARTS       AGE\n" +
			"nginx          1/1     Running            0              10s\n" +
			"crasher-7d9c   0/1     CrashLoopBackOff   12 (75s ago)   26h\n"},
		{"wide", []*v1.Pod{nginx, crash}, Options{Now: now, Wide: true}, "" +
			"NAME           READY   STATUS             RESTARTS       AGE   IP            NODE     NOMINATED NODE   READINESS GATES\n" +
			"nginx          1/1     Running            0              10s   <none>        <none>   <none>           <none>\n" +
			"crasher-7d9c   0/1     CrashLoopBackOff   12 (75s ago)   26h   10.244.0.12   node1    <none>           <none>\n"},
		{"no headers keeps the minimum width", []*v1.Pod{namedPod("a", v1.PodPending)}, Options{Now: now, NoHeaders: true},
			"a     0/0   Pending   0     5m\n"},
		{"all namespaces", []*v1.Pod{nginx}, Options{Now: now, WithNamespace: true}, "" +
			"NAMESPACE   NAME    READY   STATUS    RESTARTS   AGE\n" +
			"default     nginx   1/1     Running   0          10s\n"},
		{"no pods prints nothing", nil, Options{Now: now}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := PrintPods(&buf, tt.pods, tt.opts); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", buf.String(), tt.want)
			}
		})
	}
}

func TestTableWriterRemembersWidths(t *testing.T) {
	var buf bytes.Buffer
	tw := NewTableWriter(&buf)
	steps := [][][]string{
		{PodHeaders(Options{}), {"web", "0/1", "Pending", "0", "0s"}},
		{{"web", "0/1", "ContainerCreating", "0", "1s"}},
		{{"web", "1/1", "Running", "0", "3s"}},
	}
	for _, rows := range steps {
		if err := tw.WriteRows(rows); err != nil {
			t.Fatal(err)
		}
	}
	// Like `kubectl get -w`: a wider STATUS widens that column for the rows
	// after it; lines already printed stay as they were.
	want := "" +
		"NAME   READY   STATUS    RESTARTS   AGE\n" +
		"web    0/1     Pending   0          0s\n" +
		"web    0/1     ContainerCreating   0          1s\n" +
		"web    1/1     Running             0          3s\n"
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestPrintPodRows(t *testing.T) {
	var buf bytes.Buffer
	p := namedPod("web", v1.PodRunning, cst{Name: "a", State: running(), Ready: true})
	if err := PrintPodRows(&buf, [][]string{PodRow(p, Options{Now: now, WithNamespace: true})}, true, false); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"NAMESPACE   NAME   READY   STATUS    RESTARTS   AGE\n" +
		"default     web    1/1     Running   0          5m\n"
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestTableCellSanitized(t *testing.T) {
	var buf bytes.Buffer
	if err := NewTableWriter(&buf).WriteRows([][]string{{"a\x1b[31m", "two\nlines", "x"}}); err != nil {
		t.Fatal(err)
	}
	if want := "a^[[31m   two...   x\n"; buf.String() != want {
		t.Errorf("got %q, want %q", buf.String(), want)
	}
}

func TestHumanDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-2 * time.Second, "<invalid>"},
		{-time.Second, "0s"},
		{-500 * time.Millisecond, "0s"},
		{0, "0s"},
		{59 * time.Second, "59s"},
		{119 * time.Second, "119s"},
		{2 * time.Minute, "2m"},
		{2*time.Minute + 5*time.Second, "2m5s"},
		{9*time.Minute + 59*time.Second, "9m59s"},
		{10 * time.Minute, "10m"},
		{10*time.Minute + 59*time.Second, "10m"},
		{179 * time.Minute, "179m"},
		{3 * time.Hour, "3h"},
		{3*time.Hour + 30*time.Minute, "3h30m"},
		{7*time.Hour + 59*time.Minute, "7h59m"},
		{8 * time.Hour, "8h"},
		{47 * time.Hour, "47h"},
		{48 * time.Hour, "2d"},
		{50 * time.Hour, "2d2h"},
		{8 * 24 * time.Hour, "8d"},
		{364 * 24 * time.Hour, "364d"},
		{729 * 24 * time.Hour, "729d"},
		{730 * 24 * time.Hour, "2y"},
		{750 * 24 * time.Hour, "2y20d"},
		{8 * 365 * 24 * time.Hour, "8y"},
		{9*365*24*time.Hour + 100*24*time.Hour, "9y"},
	}
	for _, tt := range tests {
		if got := HumanDuration(tt.d); got != tt.want {
			t.Errorf("HumanDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
	if got := TranslateTimestampSince(metav1.Time{}, now); got != "<unknown>" {
		t.Errorf("zero time = %q, want <unknown>", got)
	}
	if got := TranslateTimestampSince(ago(90*time.Second), now); got != "90s" {
		t.Errorf("90s ago = %q", got)
	}
}

func TestPodQOS(t *testing.T) {
	limited := v1.ResourceRequirements{Limits: v1.ResourceList{
		v1.ResourceCPU: mustQuantity("1"), v1.ResourceMemory: mustQuantity("1Gi"),
	}}
	pod := func(r v1.ResourceRequirements, status v1.PodQOSClass) *v1.Pod {
		p := &v1.Pod{}
		p.Spec.Containers = []v1.Container{{Resources: r}}
		p.Status.QOSClass = status
		return p
	}
	// The classification itself is tested in internal/qos.
	tests := []struct {
		name string
		pod  *v1.Pod
		want v1.PodQOSClass
	}{
		{"computed without status", pod(limited, ""), v1.PodQOSGuaranteed},
		{"computed best effort", pod(v1.ResourceRequirements{}, ""), v1.PodQOSBestEffort},
		{"status wins", pod(v1.ResourceRequirements{}, v1.PodQOSBurstable), v1.PodQOSBurstable},
	}
	for _, tt := range tests {
		if got := PodQOS(tt.pod); got != tt.want {
			t.Errorf("%s: PodQOS = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func mustQuantity(s string) resource.Quantity { return resource.MustParse(s) }

// PrintPodRows (tests) lays out rows made by PodRow, preceded by the header when
// header is set. Each call starts a fresh layout; a watch that prints rows as
// they come should keep one TableWriter instead, so columns stay aligned.
func PrintPodRows(w io.Writer, rows [][]string, header bool, wide bool) error {
	if header {
		h := PodHeaders(Options{Wide: wide})
		if len(rows) > 0 && len(rows[0]) == len(h)+1 {
			// Rows made with WithNamespace carry one more cell.
			h = PodHeaders(Options{Wide: wide, WithNamespace: true})
		}
		rows = append([][]string{h}, rows...)
	}
	return NewTableWriter(w).WriteRows(rows)
}
