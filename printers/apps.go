package printers

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DeploymentHeaders returns the header row of `kubectl get deployments`.
func DeploymentHeaders(opts Options) []string {
	h := []string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"}
	if opts.Wide {
		h = append(h, "CONTAINERS", "IMAGES", "SELECTOR")
	}
	if opts.WithNamespace {
		h = append([]string{"NAMESPACE"}, h...)
	}
	return h
}

// DeploymentRow is one row, computed like the API server's
// printDeployment: READY is ready/desired.
func DeploymentRow(d *appsv1.Deployment, opts Options) []string {
	desired := int32(1)
	if d.Spec.Replicas != nil {
		desired = *d.Spec.Replicas
	}
	row := []string{d.Name, fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, desired),
		fmt.Sprint(d.Status.UpdatedReplicas), fmt.Sprint(d.Status.AvailableReplicas),
		TranslateTimestampSince(d.CreationTimestamp, nowOr(opts.Now))}
	if opts.Wide {
		row = append(row, templateWide(&d.Spec.Template, d.Spec.Selector)...)
	}
	if opts.WithNamespace {
		row = append([]string{d.Namespace}, row...)
	}
	return row
}

// templateWide is the CONTAINERS, IMAGES and SELECTOR cells.
func templateWide(t *v1.PodTemplateSpec, sel *metav1.LabelSelector) []string {
	var names, images []string
	for _, c := range t.Spec.Containers {
		names = append(names, c.Name)
		images = append(images, c.Image)
	}
	selector := "<none>"
	if s, err := metav1.LabelSelectorAsSelector(sel); err == nil && !s.Empty() {
		selector = s.String()
	}
	return []string{strings.Join(names, ","), strings.Join(images, ","), selector}
}

// PrintDeployments writes the table of `kubectl get deployments`.
func PrintDeployments(w io.Writer, ds []*appsv1.Deployment, opts Options) error {
	rows := [][]string{}
	if !opts.NoHeaders {
		rows = append(rows, DeploymentHeaders(opts))
	}
	for _, d := range ds {
		rows = append(rows, DeploymentRow(d, opts))
	}
	return NewTableWriter(w).WriteRows(rows)
}

// ReplicaSetHeaders returns the header row of `kubectl get replicasets`.
func ReplicaSetHeaders(opts Options) []string {
	h := []string{"NAME", "DESIRED", "CURRENT", "READY", "AGE"}
	if opts.Wide {
		h = append(h, "CONTAINERS", "IMAGES", "SELECTOR")
	}
	if opts.WithNamespace {
		h = append([]string{"NAMESPACE"}, h...)
	}
	return h
}

// ReplicaSetRow is one row, as the API server's printReplicaSet.
func ReplicaSetRow(rs *appsv1.ReplicaSet, opts Options) []string {
	desired := int32(1)
	if rs.Spec.Replicas != nil {
		desired = *rs.Spec.Replicas
	}
	row := []string{rs.Name, fmt.Sprint(desired), fmt.Sprint(rs.Status.Replicas), fmt.Sprint(rs.Status.ReadyReplicas),
		TranslateTimestampSince(rs.CreationTimestamp, nowOr(opts.Now))}
	if opts.Wide {
		row = append(row, templateWide(&rs.Spec.Template, rs.Spec.Selector)...)
	}
	if opts.WithNamespace {
		row = append([]string{rs.Namespace}, row...)
	}
	return row
}

// PrintReplicaSets writes the table of `kubectl get replicasets`.
func PrintReplicaSets(w io.Writer, rss []*appsv1.ReplicaSet, opts Options) error {
	rows := [][]string{}
	if !opts.NoHeaders {
		rows = append(rows, ReplicaSetHeaders(opts))
	}
	for _, rs := range rss {
		rows = append(rows, ReplicaSetRow(rs, opts))
	}
	return NewTableWriter(w).WriteRows(rows)
}

func describeTo(w io.Writer, what string, f func(d *describer)) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 8, 2, ' ', 0)
	f(&describer{tw: tw, now: time.Now()})
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("describe %s: %w", what, err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("describe %s: %w", what, err)
	}
	return nil
}

// DescribeDeployment writes `kubectl describe deployment` (kubectl 1.34):
// rss are the Deployment's ReplicaSets (new and old are told apart by
// template), events those of the Deployment.
func DescribeDeployment(w io.Writer, d *appsv1.Deployment, rss []*appsv1.ReplicaSet, events []v1.Event, now time.Time) error {
	return describeTo(w, "deployment "+d.Namespace+"/"+d.Name, func(x *describer) {
		x.now = nowOr(now)
		x.describeDeployment(d, rss, events)
	})
}

func (d *describer) describeDeployment(dep *appsv1.Deployment, rss []*appsv1.ReplicaSet, events []v1.Event) {
	sel, _ := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	desired := int32(1)
	if dep.Spec.Replicas != nil {
		desired = *dep.Spec.Replicas
	}
	d.write(0, "Name:\t%s\n", dep.Name)
	d.write(0, "Namespace:\t%s\n", dep.Namespace)
	d.write(0, "CreationTimestamp:\t%s\n", dep.CreationTimestamp.Time.Format(time.RFC1123Z))
	d.labels("Labels", dep.Labels)
	d.annotations("Annotations", dep.Annotations)
	d.write(0, "Selector:\t%s\n", sel)
	d.write(0, "Replicas:\t%d desired | %d updated | %d total | %d available | %d unavailable\n",
		desired, dep.Status.UpdatedReplicas, dep.Status.Replicas, dep.Status.AvailableReplicas, dep.Status.UnavailableReplicas)
	d.write(0, "StrategyType:\t%s\n", dep.Spec.Strategy.Type)
	d.write(0, "MinReadySeconds:\t%d\n", dep.Spec.MinReadySeconds)
	if ru := dep.Spec.Strategy.RollingUpdate; ru != nil {
		d.write(0, "RollingUpdateStrategy:\t%s max unavailable, %s max surge\n", ru.MaxUnavailable.String(), ru.MaxSurge.String())
	}
	d.podTemplate(&dep.Spec.Template)
	if len(dep.Status.Conditions) > 0 {
		d.write(0, "Conditions:\n  Type\tStatus\tReason\n")
		d.write(1, "----\t------\t------\n")
		for _, c := range dep.Status.Conditions {
			d.write(1, "%v \t%v\t%v\n", c.Type, c.Status, c.Reason)
		}
	}
	var newRS *appsv1.ReplicaSet
	var old []*appsv1.ReplicaSet
	for _, rs := range rss {
		if newRS == nil && sameTemplate(&rs.Spec.Template, &dep.Spec.Template) {
			newRS = rs
			continue
		}
		if rs.Spec.Replicas == nil || *rs.Spec.Replicas > 0 || rs.Status.Replicas > 0 {
			old = append(old, rs)
		}
	}
	d.write(0, "OldReplicaSets:\t%s\n", replicaSetList(old))
	var nrs []*appsv1.ReplicaSet
	if newRS != nil {
		nrs = append(nrs, newRS)
	}
	d.write(0, "NewReplicaSet:\t%s\n", replicaSetList(nrs))
	d.events(events)
}

// sameTemplate compares templates without the pod-template-hash label.
func sameTemplate(a, b *v1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, "pod-template-hash")
	delete(b.Labels, "pod-template-hash")
	return fmt.Sprint(a.Labels) == fmt.Sprint(b.Labels) && a.Spec.String() == b.Spec.String() && fmt.Sprint(a.Annotations) == fmt.Sprint(b.Annotations)
}

func replicaSetList(rss []*appsv1.ReplicaSet) string {
	if len(rss) == 0 {
		return "<none>"
	}
	var parts []string
	for _, rs := range rss {
		desired := int32(1)
		if rs.Spec.Replicas != nil {
			desired = *rs.Spec.Replicas
		}
		parts = append(parts, fmt.Sprintf("%s (%d/%d replicas created)", rs.Name, rs.Status.Replicas, desired))
	}
	return strings.Join(parts, ", ")
}

// podTemplate is kubectl's DescribePodTemplate.
func (d *describer) podTemplate(t *v1.PodTemplateSpec) {
	d.write(0, "Pod Template:\n")
	d.space = "  "
	defer func() { d.space = "" }()
	d.labels("  Labels", t.Labels)
	if len(t.Annotations) > 0 {
		d.annotations("  Annotations", t.Annotations)
	}
	if t.Spec.ServiceAccountName != "" {
		d.write(1, "Service Account:\t%s\n", t.Spec.ServiceAccountName)
	}
	pod := &v1.Pod{ObjectMeta: t.ObjectMeta, Spec: t.Spec}
	if len(t.Spec.InitContainers) > 0 {
		d.containers(pod, "Init Containers", t.Spec.InitContainers, nil)
	}
	d.containers(pod, "Containers", t.Spec.Containers, nil)
	d.volumes(t.Spec.Volumes)
	if t.Spec.PriorityClassName != "" {
		d.write(1, "Priority Class Name:\t%s\n", t.Spec.PriorityClassName)
	}
	d.labels("  Node-Selectors", t.Spec.NodeSelector)
	d.tolerations("  Tolerations", t.Spec.Tolerations)
}

// DescribeReplicaSet writes `kubectl describe replicaset`; pods are the
// ReplicaSet's, for the Pods Status line.
func DescribeReplicaSet(w io.Writer, rs *appsv1.ReplicaSet, pods []*v1.Pod, events []v1.Event, now time.Time) error {
	return describeTo(w, "replicaset "+rs.Namespace+"/"+rs.Name, func(x *describer) {
		x.now = nowOr(now)
		x.describeReplicaSet(rs, pods, events)
	})
}

func (d *describer) describeReplicaSet(rs *appsv1.ReplicaSet, pods []*v1.Pod, events []v1.Event) {
	sel, _ := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	desired := int32(1)
	if rs.Spec.Replicas != nil {
		desired = *rs.Spec.Replicas
	}
	d.write(0, "Name:\t%s\n", rs.Name)
	d.write(0, "Namespace:\t%s\n", rs.Namespace)
	d.write(0, "Selector:\t%s\n", sel)
	d.labels("Labels", rs.Labels)
	d.annotations("Annotations", rs.Annotations)
	if ref := metav1.GetControllerOf(rs); ref != nil {
		d.write(0, "Controlled By:\t%s/%s\n", ref.Kind, ref.Name)
	}
	d.write(0, "Replicas:\t%d current / %d desired\n", rs.Status.Replicas, desired)
	count := map[v1.PodPhase]int{}
	for _, p := range pods {
		count[p.Status.Phase]++
	}
	d.write(0, "Pods Status:\t%d Running / %d Waiting / %d Succeeded / %d Failed\n",
		count[v1.PodRunning], count[v1.PodPending], count[v1.PodSucceeded], count[v1.PodFailed])
	d.podTemplate(&rs.Spec.Template)
	if len(rs.Status.Conditions) > 0 {
		d.write(0, "Conditions:\n  Type\tStatus\tReason\n")
		d.write(1, "----\t------\t------\n")
		for _, c := range rs.Status.Conditions {
			d.write(1, "%v \t%v\t%v\n", c.Type, c.Status, c.Reason)
		}
	}
	d.events(events)
}

// RolloutHistory writes `kubectl rollout history deployment/NAME`: one line
// per revision, oldest first.
func RolloutHistory(w io.Writer, kind, name string, revisions []int64, causes []string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%s \n", kind, name)
	tw := tabwriter.NewWriter(&b, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "REVISION\tCHANGE-CAUSE\n")
	idx := make([]int, len(revisions))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(i, j int) bool { return revisions[idx[i]] < revisions[idx[j]] })
	for _, i := range idx {
		cause := causes[i]
		if cause == "" {
			cause = "<none>"
		}
		fmt.Fprintf(tw, "%d\t%s\n", revisions[i], cause)
	}
	tw.Flush()
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// DescribePodTemplate writes a pod template as `rollout history
// --revision` shows it.
func DescribePodTemplate(w io.Writer, t *v1.PodTemplateSpec) error {
	return describeTo(w, "pod template", func(d *describer) { d.podTemplate(t) })
}
