package printers

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// lastAppliedAnnotation is hidden from describe output, as kubectl hides it.
const lastAppliedAnnotation = v1.LastAppliedConfigAnnotation

// maxAnnotationLen is the longest "key: value" kubectl prints on one line.
const maxAnnotationLen = 140

// DescribePod writes the text of `kubectl describe pod` (kubectl 1.34) for
// pod and its events, with ages measured at now (zero means time.Now()).
//
// The layout follows kubectl exactly: one elastic tab writer (padding 2) over
// the whole text, flushed before a non-empty Events table so that the table
// gets its own column widths. events may be in any order; they are sorted by
// last timestamp. No events prints "Events: <none>".
func DescribePod(w io.Writer, pod *v1.Pod, events []v1.Event, now time.Time) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 8, 2, ' ', 0)
	d := &describer{tw: tw, now: nowOr(now)}
	d.describePod(pod, events)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("describe pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("describe pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// describer writes indented, tab-separated lines into a tab writer, the way
// kubectl's PrefixWriter does. Indentation is two spaces per level. Writes go
// to an in-memory buffer and cannot fail.
type describer struct {
	tw  *tabwriter.Writer
	now time.Time
	// space indents the section titles of a pod template inside a
	// Deployment or ReplicaSet, as kubectl's describeContainers(…, space).
	space string
}

func (d *describer) write(level int, format string, args ...any) {
	s := strings.Repeat("  ", level) + fmt.Sprintf(format, args...)
	_, _ = io.WriteString(d.tw, escapeTerminal(s))
}

// flush ends the current column blocks: lines after it are aligned on their own.
func (d *describer) flush() {
	_ = d.tw.Flush()
}

func (d *describer) describePod(pod *v1.Pod, events []v1.Event) {
	d.write(0, "Name:\t%s\n", pod.Name)
	d.write(0, "Namespace:\t%s\n", pod.Namespace)
	if pod.Spec.Priority != nil {
		d.write(0, "Priority:\t%d\n", *pod.Spec.Priority)
	}
	if pod.Spec.PriorityClassName != "" {
		d.write(0, "Priority Class Name:\t%s\n", pod.Spec.PriorityClassName)
	}
	if rc := pod.Spec.RuntimeClassName; rc != nil && *rc != "" {
		d.write(0, "Runtime Class Name:\t%s\n", *rc)
	}
	if pod.Spec.ServiceAccountName != "" {
		d.write(0, "Service Account:\t%s\n", pod.Spec.ServiceAccountName)
	}
	if pod.Spec.NodeName == "" {
		d.write(0, "Node:\t<none>\n")
	} else {
		d.write(0, "Node:\t%s\n", pod.Spec.NodeName+"/"+pod.Status.HostIP)
	}
	if pod.Status.StartTime != nil {
		d.write(0, "Start Time:\t%s\n", pod.Status.StartTime.Time.Format(time.RFC1123Z))
	}
	d.labels("Labels", pod.Labels)
	d.annotations("Annotations", pod.Annotations)
	if pod.DeletionTimestamp != nil && pod.Status.Phase != v1.PodFailed && pod.Status.Phase != v1.PodSucceeded {
		// The deletion timestamp lies in the future (now + grace period), so
		// kubectl's "lasts" age is usually <invalid>; it is printed as is.
		d.write(0, "Status:\tTerminating (lasts %s)\n", TranslateTimestampSince(*pod.DeletionTimestamp, d.now))
		d.write(0, "Termination Grace Period:\t%ds\n", deletionGrace(pod))
	} else {
		d.write(0, "Status:\t%s\n", string(pod.Status.Phase))
	}
	if pod.Status.Reason != "" {
		d.write(0, "Reason:\t%s\n", pod.Status.Reason)
	}
	if pod.Status.Message != "" {
		d.write(0, "Message:\t%s\n", pod.Status.Message)
	}
	if sc := pod.Spec.SecurityContext; sc != nil && sc.SeccompProfile != nil {
		d.seccomp(0, sc.SeccompProfile)
	}
	d.write(0, "IP:\t%s\n", pod.Status.PodIP)
	if len(pod.Status.PodIPs) == 0 {
		d.write(0, "IPs:\t<none>\n")
	} else {
		d.write(0, "IPs:\n")
		for _, ip := range pod.Status.PodIPs {
			d.write(1, "IP:\t%s\n", ip.IP)
		}
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		d.write(0, "Controlled By:\t%s/%s\n", ref.Kind, ref.Name)
	}
	if pod.Status.NominatedNodeName != "" {
		d.write(0, "NominatedNodeName:\t%s\n", pod.Status.NominatedNodeName)
	}
	if pod.Spec.Resources != nil {
		d.write(0, "Resources:\n")
		d.resources(pod.Spec.Resources, 1)
	}

	if len(pod.Spec.InitContainers) > 0 {
		d.containers(pod, "Init Containers", pod.Spec.InitContainers, pod.Status.InitContainerStatuses)
	}
	d.containers(pod, "Containers", pod.Spec.Containers, pod.Status.ContainerStatuses)
	if len(pod.Spec.EphemeralContainers) > 0 {
		ec := make([]v1.Container, 0, len(pod.Spec.EphemeralContainers))
		for _, e := range pod.Spec.EphemeralContainers {
			ec = append(ec, v1.Container(e.EphemeralContainerCommon))
		}
		d.containers(pod, "Ephemeral Containers", ec, pod.Status.EphemeralContainerStatuses)
	}

	if len(pod.Spec.ReadinessGates) > 0 {
		d.write(0, "Readiness Gates:\n  Type\tStatus\n")
		for _, g := range pod.Spec.ReadinessGates {
			status := "<none>"
			for _, c := range pod.Status.Conditions {
				if c.Type == g.ConditionType {
					status = string(c.Status)
					break
				}
			}
			d.write(1, "%v \t%v \n", g.ConditionType, status)
		}
	}
	if len(pod.Status.Conditions) > 0 {
		d.write(0, "Conditions:\n  Type\tStatus\n")
		for _, c := range pod.Status.Conditions {
			d.write(1, "%v \t%v \n", c.Type, c.Status)
		}
	}
	d.volumes(pod.Spec.Volumes)
	d.write(0, "QoS Class:\t%s\n", PodQOS(pod))
	d.labels("Node-Selectors", pod.Spec.NodeSelector)
	d.tolerations("Tolerations", pod.Spec.Tolerations)
	d.topologySpread(pod.Spec.TopologySpreadConstraints)
	d.events(events)
}

// deletionGrace is the grace period of a deleting pod. The API server always
// sets metadata.deletionGracePeriodSeconds together with the deletion
// timestamp; without it, fall back to the spec's period (default 30 s).
func deletionGrace(pod *v1.Pod) int64 {
	if g := pod.DeletionGracePeriodSeconds; g != nil {
		return *g
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return *g
	}
	return v1.DefaultTerminationGracePeriodSeconds
}

func (d *describer) seccomp(level int, p *v1.SeccompProfile) {
	d.write(level, "SeccompProfile:\t%s\n", p.Type)
	if p.Type == v1.SeccompProfileTypeLocalhost && p.LocalhostProfile != nil {
		d.write(level+1, "LocalhostProfile:\t%s\n", *p.LocalhostProfile)
	}
}

// labels prints a map as sorted key=value lines, the first after the title.
func (d *describer) labels(title string, m map[string]string) {
	d.write(0, "%s:\t", title)
	if len(m) == 0 {
		d.write(0, "<none>\n")
		return
	}
	for i, k := range sortedKeys(m) {
		if i != 0 {
			d.write(0, "\t")
		}
		d.write(0, "%s=%s\n", k, m[k])
	}
}

// annotations prints annotations as "key: value"; long or multi-line values
// go on their own lines, each cut to kubectl's maximum width.
func (d *describer) annotations(title string, m map[string]string) {
	d.write(0, "%s:\t", title)
	var keys []string
	for _, k := range sortedKeys(m) {
		if k != lastAppliedAnnotation {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		d.write(0, "<none>\n")
		return
	}
	for i, k := range keys {
		if i != 0 {
			d.write(0, "\t")
		}
		value := strings.TrimSuffix(m[k], "\n")
		if len(value)+len(k)+2 > maxAnnotationLen || strings.Contains(value, "\n") {
			d.write(0, "%s:\n", k)
			for _, s := range strings.Split(value, "\n") {
				d.write(0, "\t  %s\n", shorten(s, maxAnnotationLen-2))
			}
		} else {
			d.write(0, "%s: %s\n", k, value)
		}
	}
}

func shorten(s string, max int) string {
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (d *describer) tolerations(title string, tols []v1.Toleration) {
	d.write(0, "%s:\t", title)
	if len(tols) == 0 {
		d.write(0, "<none>\n")
		return
	}
	sorted := append([]v1.Toleration(nil), tols...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Key < sorted[j].Key })
	for i, t := range sorted {
		if i != 0 {
			d.write(0, "\t")
		}
		var b strings.Builder
		b.WriteString(t.Key)
		if t.Value != "" {
			b.WriteString("=" + t.Value)
		}
		if t.Effect != "" {
			b.WriteString(":" + string(t.Effect))
		}
		// "operator: Exists" with no key, value or effect tolerates everything.
		if t.Operator == v1.TolerationOpExists && t.Value == "" {
			if t.Key != "" || t.Effect != "" {
				b.WriteString(" op=Exists")
			} else {
				b.WriteString("op=Exists")
			}
		}
		if t.TolerationSeconds != nil {
			fmt.Fprintf(&b, " for %ds", *t.TolerationSeconds)
		}
		d.write(0, "%s\n", b.String())
	}
}

func (d *describer) topologySpread(tscs []v1.TopologySpreadConstraint) {
	if len(tscs) == 0 {
		return
	}
	sorted := append([]v1.TopologySpreadConstraint(nil), tscs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].TopologyKey < sorted[j].TopologyKey })
	d.write(0, "Topology Spread Constraints:\t")
	for i, c := range sorted {
		if i != 0 {
			d.write(0, "\t")
		}
		d.write(0, "%s:%v when max skew %d is exceeded", c.TopologyKey, c.WhenUnsatisfiable, c.MaxSkew)
		if c.LabelSelector != nil {
			d.write(0, " for selector %s", metav1.FormatLabelSelector(c.LabelSelector))
		}
		d.write(0, "\n")
	}
}

// containers prints one container section ("Init Containers", "Containers").
func (d *describer) containers(pod *v1.Pod, label string, cs []v1.Container, statuses []v1.ContainerStatus) {
	byName := make(map[string]v1.ContainerStatus, len(statuses))
	for _, s := range statuses {
		byName[s.Name] = s
	}
	if len(cs) == 0 {
		d.write(0, "%s%s: <none>\n", d.space, label)
	} else {
		d.write(0, "%s%s:\n", d.space, label)
	}
	nameIndent := ""
	if d.space != "" {
		nameIndent = " "
	}
	for i := range cs {
		c := &cs[i]
		st, ok := byName[c.Name]
		d.write(1, "%s%v:\n", nameIndent, c.Name)
		if ok {
			d.write(2, "Container ID:\t%s\n", st.ContainerID)
		}
		d.write(2, "Image:\t%s\n", c.Image)
		if ok {
			d.write(2, "Image ID:\t%s\n", st.ImageID)
		}
		if ports := containerPorts(c.Ports, false); strings.Contains(ports, ",") {
			d.write(2, "Ports:\t%s\n", ports)
		} else {
			d.write(2, "Port:\t%s\n", orNone(ports))
		}
		if ports := containerPorts(c.Ports, true); strings.Contains(ports, ",") {
			d.write(2, "Host Ports:\t%s\n", ports)
		} else {
			d.write(2, "Host Port:\t%s\n", orNone(ports))
		}
		if sc := c.SecurityContext; sc != nil && sc.SeccompProfile != nil {
			d.seccomp(2, sc.SeccompProfile)
		}
		d.stringList("Command", c.Command)
		d.stringList("Args", c.Args)
		if ok {
			d.containerState("State", st.State)
			if st.LastTerminationState.Terminated != nil {
				d.containerState("Last State", st.LastTerminationState)
			}
			d.write(2, "Ready:\t%v\n", printBool(st.Ready))
			d.write(2, "Restart Count:\t%d\n", st.RestartCount)
		}
		d.resources(&c.Resources, 2)
		if c.LivenessProbe != nil {
			d.write(2, "Liveness:\t%s\n", DescribeProbe(c.LivenessProbe))
		}
		if c.ReadinessProbe != nil {
			d.write(2, "Readiness:\t%s\n", DescribeProbe(c.ReadinessProbe))
		}
		if c.StartupProbe != nil {
			d.write(2, "Startup:\t%s\n", DescribeProbe(c.StartupProbe))
		}
		if len(c.EnvFrom) > 0 {
			d.envFrom(c.EnvFrom)
		}
		d.env(pod, c)
		d.mounts(c)
	}
}

// containerPorts renders container (or host) ports as kubectl does:
// "80/TCP (http), 53/UDP". An unset protocol is shown as TCP, its API default.
func containerPorts(ports []v1.ContainerPort, host bool) string {
	out := make([]string, 0, len(ports))
	for _, p := range ports {
		n := p.ContainerPort
		if host {
			n = p.HostPort
		}
		proto := p.Protocol
		if proto == "" {
			proto = v1.ProtocolTCP
		}
		s := fmt.Sprintf("%d/%s", n, proto)
		if p.Name != "" {
			s = fmt.Sprintf("%s (%s)", s, p.Name)
		}
		out = append(out, s)
	}
	return strings.Join(out, ", ")
}

// stringList prints a command or its args one item per line, splitting
// items that contain newlines.
func (d *describer) stringList(title string, items []string) {
	if len(items) == 0 {
		return
	}
	d.write(2, "%s:\n", title)
	for _, item := range items {
		for _, s := range strings.Split(item, "\n") {
			d.write(3, "%s\n", s)
		}
	}
}

// containerState prints State or Last State (kubectl's describeStatus).
func (d *describer) containerState(name string, st v1.ContainerState) {
	switch {
	case st.Running != nil:
		d.write(2, "%s:\tRunning\n", name)
		d.write(3, "Started:\t%v\n", st.Running.StartedAt.Time.Format(time.RFC1123Z))
	case st.Waiting != nil:
		d.write(2, "%s:\tWaiting\n", name)
		if st.Waiting.Reason != "" {
			d.write(3, "Reason:\t%s\n", st.Waiting.Reason)
		}
	case st.Terminated != nil:
		t := st.Terminated
		d.write(2, "%s:\tTerminated\n", name)
		if t.Reason != "" {
			d.write(3, "Reason:\t%s\n", t.Reason)
		}
		if t.Message != "" {
			d.write(3, "Message:\t%s\n", t.Message)
		}
		d.write(3, "Exit Code:\t%d\n", t.ExitCode)
		if t.Signal > 0 {
			d.write(3, "Signal:\t%d\n", t.Signal)
		}
		d.write(3, "Started:\t%s\n", t.StartedAt.Time.Format(time.RFC1123Z))
		d.write(3, "Finished:\t%s\n", t.FinishedAt.Time.Format(time.RFC1123Z))
	default:
		d.write(2, "%s:\tWaiting\n", name)
	}
}

func printBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// resources prints Limits and Requests, each sorted by resource name.
func (d *describer) resources(r *v1.ResourceRequirements, level int) {
	for _, part := range []struct {
		title string
		list  v1.ResourceList
	}{{"Limits", r.Limits}, {"Requests", r.Requests}} {
		if len(part.list) == 0 {
			continue
		}
		d.write(level, "%s:\n", part.title)
		names := make([]string, 0, len(part.list))
		for n := range part.list {
			names = append(names, string(n))
		}
		sort.Strings(names)
		for _, n := range names {
			q := part.list[v1.ResourceName(n)]
			d.write(level+1, "%s:\t%s\n", n, q.String())
		}
	}
}

// DescribeProbe renders a probe as kubectl describe does, for example
// "http-get http://:8080/healthz delay=0s timeout=1s period=10s #success=1 #failure=3".
func DescribeProbe(p *v1.Probe) string {
	attrs := fmt.Sprintf("delay=%ds timeout=%ds period=%ds #success=%d #failure=%d",
		p.InitialDelaySeconds, p.TimeoutSeconds, p.PeriodSeconds, p.SuccessThreshold, p.FailureThreshold)
	switch {
	case p.Exec != nil:
		return fmt.Sprintf("exec %v %s", p.Exec.Command, attrs)
	case p.HTTPGet != nil:
		u := &url.URL{Scheme: strings.ToLower(string(p.HTTPGet.Scheme)), Path: p.HTTPGet.Path}
		if port := p.HTTPGet.Port.String(); port != "" {
			u.Host = net.JoinHostPort(p.HTTPGet.Host, port)
		} else {
			u.Host = p.HTTPGet.Host
		}
		return fmt.Sprintf("http-get %s %s", u.String(), attrs)
	case p.TCPSocket != nil:
		return fmt.Sprintf("tcp-socket %s:%s %s", p.TCPSocket.Host, p.TCPSocket.Port.String(), attrs)
	case p.GRPC != nil:
		service := ""
		if p.GRPC.Service != nil {
			service = *p.GRPC.Service
		}
		return fmt.Sprintf("grpc <pod>:%d %s %s", p.GRPC.Port, service, attrs)
	}
	return "unknown " + attrs
}

func (d *describer) envFrom(sources []v1.EnvFromSource) {
	d.write(2, "Environment Variables from:\n")
	for _, e := range sources {
		var from, name string
		var optional bool
		switch {
		case e.ConfigMapRef != nil:
			from, name = "ConfigMap", e.ConfigMapRef.Name
			optional = e.ConfigMapRef.Optional != nil && *e.ConfigMapRef.Optional
		case e.SecretRef != nil:
			from, name = "Secret", e.SecretRef.Name
			optional = e.SecretRef.Optional != nil && *e.SecretRef.Optional
		}
		if e.Prefix == "" {
			d.write(3, "%s\t%s\tOptional: %t\n", name, from, optional)
		} else {
			d.write(3, "%s\t%s with prefix '%s'\tOptional: %t\n", name, from, e.Prefix, optional)
		}
	}
}

func (d *describer) env(pod *v1.Pod, c *v1.Container) {
	if len(c.Env) == 0 {
		d.write(2, "Environment:\t<none>\n")
	} else {
		d.write(2, "Environment:\n")
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			for i, s := range strings.Split(e.Value, "\n") {
				if i == 0 {
					d.write(3, "%s:\t%s\n", e.Name, s)
				} else {
					d.write(3, "\t%s\n", s)
				}
			}
			continue
		}
		vf := e.ValueFrom
		switch {
		case vf.FieldRef != nil:
			d.write(3, "%s:\t%s (%s:%s)\n", e.Name, fieldRefValue(pod, vf.FieldRef), vf.FieldRef.APIVersion, vf.FieldRef.FieldPath)
		case vf.ResourceFieldRef != nil:
			value := resourceFieldValue(vf.ResourceFieldRef, c)
			res := vf.ResourceFieldRef.Resource
			if value == "0" && (res == "limits.cpu" || res == "limits.memory") {
				value = "node allocatable"
			}
			d.write(3, "%s:\t%s (%s)\n", e.Name, value, res)
		case vf.SecretKeyRef != nil:
			optional := vf.SecretKeyRef.Optional != nil && *vf.SecretKeyRef.Optional
			d.write(3, "%s:\t<set to the key '%s' in secret '%s'>\tOptional: %t\n", e.Name, vf.SecretKeyRef.Key, vf.SecretKeyRef.Name, optional)
		case vf.ConfigMapKeyRef != nil:
			optional := vf.ConfigMapKeyRef.Optional != nil && *vf.ConfigMapKeyRef.Optional
			d.write(3, "%s:\t<set to the key '%s' of config map '%s'>\tOptional: %t\n", e.Name, vf.ConfigMapKeyRef.Key, vf.ConfigMapKeyRef.Name, optional)
		}
	}
}

// fieldRefValue resolves a downward-API field the way kubectl describe can:
// its client-side scheme only converts metadata.name and metadata.namespace,
// so every other field (status.podIP, spec.nodeName …) shows an empty value.
func fieldRefValue(pod *v1.Pod, ref *v1.ObjectFieldSelector) string {
	switch ref.FieldPath {
	case "metadata.name":
		return pod.Name
	case "metadata.namespace":
		return pod.Namespace
	}
	return ""
}

// resourceFieldValue computes a resourceFieldRef env value from the
// container's own requests and limits, rounded up to the divisor, as kubectl
// does. Unknown resources give "".
func resourceFieldValue(ref *v1.ResourceFieldSelector, c *v1.Container) string {
	divisor := resource.MustParse("1")
	if !ref.Divisor.IsZero() {
		divisor = ref.Divisor
	}
	var list v1.ResourceList
	name := ref.Resource
	switch {
	case strings.HasPrefix(name, "limits."):
		list, name = c.Resources.Limits, strings.TrimPrefix(name, "limits.")
	case strings.HasPrefix(name, "requests."):
		list, name = c.Resources.Requests, strings.TrimPrefix(name, "requests.")
	default:
		return ""
	}
	q := list[v1.ResourceName(name)]
	switch {
	case name == "cpu":
		return strconv.FormatInt(int64(math.Ceil(float64(q.MilliValue())/float64(divisor.MilliValue()))), 10)
	case name == "memory" || name == "ephemeral-storage" || strings.HasPrefix(name, v1.ResourceHugePagesPrefix):
		return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10)
	}
	return ""
}

func (d *describer) mounts(c *v1.Container) {
	if len(c.VolumeMounts) == 0 {
		d.write(2, "Mounts:\t<none>\n")
	} else {
		d.write(2, "Mounts:\n")
	}
	mounts := append([]v1.VolumeMount(nil), c.VolumeMounts...)
	sort.SliceStable(mounts, func(i, j int) bool { return mounts[i].MountPath < mounts[j].MountPath })
	for _, m := range mounts {
		flags := []string{"rw"}
		if m.ReadOnly {
			flags[0] = "ro"
		}
		if m.SubPath != "" {
			flags = append(flags, fmt.Sprintf("path=%q", m.SubPath))
		}
		d.write(3, "%s from %s (%s)\n", m.MountPath, m.Name, strings.Join(flags, ","))
	}
	if len(c.VolumeDevices) > 0 {
		d.write(2, "Devices:\n")
		devices := append([]v1.VolumeDevice(nil), c.VolumeDevices...)
		sort.SliceStable(devices, func(i, j int) bool { return devices[i].DevicePath < devices[j].DevicePath })
		for _, dev := range devices {
			d.write(3, "%s from %s\n", dev.DevicePath, dev.Name)
		}
	}
}

// volumes prints the pod's volumes. The kinds a single node can serve are
// described as kubectl describes them; any other kind prints "<unknown>".
func (d *describer) volumes(vols []v1.Volume) {
	if len(vols) == 0 {
		d.write(0, "%sVolumes:\t<none>\n", d.space)
		return
	}
	d.write(0, "%sVolumes:\n", d.space)
	for _, v := range vols {
		d.write(1, "%v:\n", v.Name)
		src := v.VolumeSource
		switch {
		case src.HostPath != nil:
			typ := "<none>"
			if src.HostPath.Type != nil {
				typ = string(*src.HostPath.Type)
			}
			d.write(2, "Type:\tHostPath (bare host directory volume)\n"+
				"    Path:\t%v\n"+
				"    HostPathType:\t%v\n", src.HostPath.Path, typ)
		case src.EmptyDir != nil:
			limit := "<unset>"
			if l := src.EmptyDir.SizeLimit; l != nil && l.Sign() > 0 {
				limit = l.String()
			}
			d.write(2, "Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n"+
				"    Medium:\t%v\n"+
				"    SizeLimit:\t%v\n", src.EmptyDir.Medium, limit)
		case src.Secret != nil:
			d.write(2, "Type:\tSecret (a volume populated by a Secret)\n"+
				"    SecretName:\t%v\n"+
				"    Optional:\t%v\n", src.Secret.SecretName, isTrue(src.Secret.Optional))
		case src.ConfigMap != nil:
			d.write(2, "Type:\tConfigMap (a volume populated by a ConfigMap)\n"+
				"    Name:\t%v\n"+
				"    Optional:\t%v\n", src.ConfigMap.Name, isTrue(src.ConfigMap.Optional))
		case src.NFS != nil:
			d.write(2, "Type:\tNFS (an NFS mount that lasts the lifetime of a pod)\n"+
				"    Server:\t%v\n"+
				"    Path:\t%v\n"+
				"    ReadOnly:\t%v\n", src.NFS.Server, src.NFS.Path, src.NFS.ReadOnly)
		case src.PersistentVolumeClaim != nil:
			d.write(2, "Type:\tPersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)\n"+
				"    ClaimName:\t%v\n"+
				"    ReadOnly:\t%v\n", src.PersistentVolumeClaim.ClaimName, src.PersistentVolumeClaim.ReadOnly)
		case src.DownwardAPI != nil:
			d.write(2, "Type:\tDownwardAPI (a volume populated by information about the pod)\n    Items:\n")
			for _, item := range src.DownwardAPI.Items {
				if item.FieldRef != nil {
					d.write(3, "%v -> %v\n", item.FieldRef.FieldPath, item.Path)
				}
				if item.ResourceFieldRef != nil {
					d.write(3, "%v -> %v\n", item.ResourceFieldRef.Resource, item.Path)
				}
			}
		case src.Projected != nil:
			d.projected(src.Projected)
		case src.Image != nil:
			d.write(2, "Type:\tImage (a container image or OCI artifact)\n"+
				"    Reference:\t%v\n"+
				"    PullPolicy:\t%v\n", src.Image.Reference, src.Image.PullPolicy)
		default:
			d.write(1, "<unknown>\n")
		}
	}
}

func (d *describer) projected(p *v1.ProjectedVolumeSource) {
	d.write(2, "Type:\tProjected (a volume that contains injected data from multiple sources)\n")
	for _, s := range p.Sources {
		switch {
		case s.Secret != nil:
			d.write(2, "SecretName:\t%v\n"+
				"    Optional:\t%v\n", s.Secret.Name, isTrue(s.Secret.Optional))
		case s.DownwardAPI != nil:
			d.write(2, "DownwardAPI:\ttrue\n")
		case s.ConfigMap != nil:
			d.write(2, "ConfigMapName:\t%v\n"+
				"    Optional:\t%v\n", s.ConfigMap.Name, isTrue(s.ConfigMap.Optional))
		case s.ServiceAccountToken != nil:
			exp := int64(3600) // the API default
			if s.ServiceAccountToken.ExpirationSeconds != nil {
				exp = *s.ServiceAccountToken.ExpirationSeconds
			}
			d.write(2, "TokenExpirationSeconds:\t%d\n", exp)
		}
	}
}

func isTrue(b *bool) bool { return b != nil && *b }

// events prints the Events table. Repeated events read
// "<last age> (x<count> over <first age>)"; From is the reporting component.
func (d *describer) events(events []v1.Event) {
	if len(events) == 0 {
		d.write(0, "Events:\t<none>\n")
		return
	}
	d.flush()
	sorted := append([]v1.Event(nil), events...)
	sort.SliceStable(sorted, func(i, j int) bool {
		return sorted[i].LastTimestamp.Time.Before(sorted[j].LastTimestamp.Time)
	})
	d.write(0, "Events:\n  Type\tReason\tAge\tFrom\tMessage\n")
	d.write(1, "----\t------\t----\t----\t-------\n")
	for _, e := range sorted {
		first := translateMicroTimestampSince(e.EventTime, d.now)
		if e.EventTime.IsZero() {
			first = TranslateTimestampSince(e.FirstTimestamp, d.now)
		}
		interval := first
		switch {
		case e.Series != nil:
			interval = fmt.Sprintf("%s (x%d over %s)", translateMicroTimestampSince(e.Series.LastObservedTime, d.now), e.Series.Count, first)
		case e.Count > 1:
			interval = fmt.Sprintf("%s (x%d over %s)", TranslateTimestampSince(e.LastTimestamp, d.now), e.Count, first)
		}
		source := e.Source.Component
		if source == "" {
			source = e.ReportingController
		}
		d.write(1, "%v\t%v\t%s\t%v\t%v\n", e.Type, e.Reason, interval, source, strings.TrimSpace(e.Message))
	}
}
