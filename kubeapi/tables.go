package kubeapi

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/minikubelet/minikubelet/api"
	"github.com/minikubelet/minikubelet/printers"
)

// printer is the server-side printing of one resource: the Table columns
// and a row's cells, as the API server's printers (pkg/printers/internalversion)
// define them; priority 1 columns show with -o wide.
type printer struct {
	columns []metav1.TableColumnDefinition
	cells   func(o Object, now time.Time) []any
}

// col is a Table column. Its description is the API server's: the API
// documentation of the field the column shows (doc), or for the Name and
// Age columns, of metadata's name and creationTimestamp.
func col(name, typ string, priority int32, doc string) metav1.TableColumnDefinition {
	c := metav1.TableColumnDefinition{Name: name, Type: typ, Priority: priority, Description: doc}
	switch name {
	case "Name":
		c.Format, c.Description = "name", metav1.ObjectMeta{}.SwaggerDoc()["name"]
	case "Age":
		c.Description = metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]
	}
	return c
}

// Descriptions the API server writes out rather than takes from a field's
// documentation.
const (
	containersDoc = "Names of each container in the template."
	imagesDoc     = "Images referenced by each container in the template."
	podReadyDoc   = "Number of the pod with ready state"
)

// The API server's printers describe some columns by the documentation of
// older beta types (extensions/v1beta1, discovery.k8s.io/v1beta1), which
// reads differently from the served v1 types'. Importing those packages
// for four strings would cost the agent their registration at start, so
// the texts are here.
const (
	deploymentSelectorDoc = "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment."
	replicaSetSelectorDoc = "Selector is a label query over pods that should match the replica count. If the selector is empty, it is defaulted to the labels present on the pod template. Label keys and values that must match in order to be controlled by this replica set. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors"
	sliceAddressTypeDoc   = "addressType specifies the type of address carried by this EndpointSlice. All addresses in this slice must be the same type. This field is immutable after creation. The following address types are currently supported: * IPv4: Represents an IPv4 Address. * IPv6: Represents an IPv6 Address. * FQDN: Represents a Fully Qualified Domain Name."
	slicePortsDoc         = "ports specifies the list of network ports exposed by each endpoint in this slice. Each port must have a unique name. When ports is empty, it indicates that there are no defined ports. When a port is defined with a nil port value, it indicates \"all ports\". Each slice may include a maximum of 100 ports."
)

func strs(cells []string) []any {
	out := make([]any, len(cells))
	for i, c := range cells {
		out[i] = c
	}
	return out
}

func age(t metav1.Time, now time.Time) string { return printers.TranslateTimestampSince(t, now) }

var printerFor = map[string]printer{
	keyPods: {
		columns: []metav1.TableColumnDefinition{
			col("Name", "string", 0, ""), col("Ready", "string", 0, "The aggregate readiness state of this pod for accepting traffic."), col("Status", "string", 0, "The aggregate status of the containers in this pod."), col("Restarts", "string", 0, "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
			col("Age", "string", 0, ""), col("IP", "string", 1, v1.PodStatus{}.SwaggerDoc()["podIP"]), col("Node", "string", 1, v1.PodSpec{}.SwaggerDoc()["nodeName"]), col("Nominated Node", "string", 1, v1.PodStatus{}.SwaggerDoc()["nominatedNodeName"]),
			col("Readiness Gates", "string", 1, v1.PodSpec{}.SwaggerDoc()["readinessGates"]),
		},
		cells: func(o Object, now time.Time) []any {
			return strs(printers.PodRow(o.(*v1.Pod), printers.Options{Wide: true, Now: now}))
		},
	},
	keyServices: {
		columns: []metav1.TableColumnDefinition{
			col("Name", "string", 0, ""), col("Type", "string", 0, v1.ServiceSpec{}.SwaggerDoc()["type"]), col("Cluster-IP", "string", 0, v1.ServiceSpec{}.SwaggerDoc()["clusterIP"]), col("External-IP", "string", 0, v1.ServiceSpec{}.SwaggerDoc()["externalIPs"]),
			col("Port(s)", "string", 0, v1.ServiceSpec{}.SwaggerDoc()["ports"]), col("Age", "string", 0, ""), col("Selector", "string", 1, v1.ServiceSpec{}.SwaggerDoc()["selector"]),
		},
		cells: func(o Object, now time.Time) []any {
			return strs(printers.ServiceRow(o.(*v1.Service), printers.Options{Wide: true, Now: now}))
		},
	},
	keyEndpoints: {
		columns: []metav1.TableColumnDefinition{col("Name", "string", 0, ""), col("Endpoints", "string", 0, v1.Endpoints{}.SwaggerDoc()["subsets"]), col("Age", "string", 0, "")},
		cells: func(o Object, now time.Time) []any {
			ep := o.(*v1.Endpoints)
			return []any{ep.Name, formatEndpoints(ep), age(ep.CreationTimestamp, now)}
		},
	},
	keyEndpointSlices: {
		columns: []metav1.TableColumnDefinition{
			col("Name", "string", 0, ""), col("AddressType", "string", 0, sliceAddressTypeDoc), col("Ports", "string", 0, slicePortsDoc),
			col("Endpoints", "string", 0, discoveryv1.EndpointSlice{}.SwaggerDoc()["endpoints"]), col("Age", "string", 0, ""),
		},
		cells: func(o Object, now time.Time) []any {
			es := o.(*discoveryv1.EndpointSlice)
			return []any{es.Name, string(es.AddressType), slicePorts(es.Ports), sliceEndpoints(es.Endpoints), age(es.CreationTimestamp, now)}
		},
	},
	keyEvents: {
		columns: eventColumns,
		cells:   func(o Object, now time.Time) []any { return eventCells(o.(*v1.Event), now) },
	},
	keyEventsV1: {
		columns: eventColumns,
		cells: func(o Object, now time.Time) []any {
			e := o.(*eventsv1.Event)
			return eventCells(&v1.Event{
				ObjectMeta: e.ObjectMeta, InvolvedObject: e.Regarding, Reason: e.Reason, Message: e.Note,
				Source: e.DeprecatedSource, FirstTimestamp: e.DeprecatedFirstTimestamp, LastTimestamp: e.DeprecatedLastTimestamp,
				Count: e.DeprecatedCount, Type: e.Type, EventTime: e.EventTime, ReportingController: e.ReportingController,
				ReportingInstance: e.ReportingInstance,
			}, now)
		},
	},
	keyNamespaces: {
		columns: []metav1.TableColumnDefinition{col("Name", "string", 0, ""), col("Status", "string", 0, "The status of the namespace"), col("Age", "string", 0, "")},
		cells: func(o Object, now time.Time) []any {
			ns := o.(*v1.Namespace)
			return []any{ns.Name, string(ns.Status.Phase), age(ns.CreationTimestamp, now)}
		},
	},
	keyConfigMaps: {
		columns: []metav1.TableColumnDefinition{col("Name", "string", 0, ""), col("Data", "string", 0, v1.ConfigMap{}.SwaggerDoc()["data"]), col("Age", "string", 0, "")},
		cells: func(o Object, now time.Time) []any {
			cm := o.(*v1.ConfigMap)
			return []any{cm.Name, int64(len(cm.Data) + len(cm.BinaryData)), age(cm.CreationTimestamp, now)}
		},
	},
	keySecrets: {
		columns: []metav1.TableColumnDefinition{col("Name", "string", 0, ""), col("Type", "string", 0, v1.Secret{}.SwaggerDoc()["type"]), col("Data", "string", 0, v1.Secret{}.SwaggerDoc()["data"]), col("Age", "string", 0, "")},
		cells: func(o Object, now time.Time) []any {
			s := o.(*v1.Secret)
			return []any{s.Name, string(s.Type), int64(len(s.Data)), age(s.CreationTimestamp, now)}
		},
	},
	keyLeases: {
		columns: []metav1.TableColumnDefinition{col("Name", "string", 0, ""), col("Holder", "string", 0, coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"]), col("Age", "string", 0, "")},
		cells: func(o Object, now time.Time) []any {
			l := o.(*coordinationv1.Lease)
			holder := ""
			if l.Spec.HolderIdentity != nil {
				holder = *l.Spec.HolderIdentity
			}
			return []any{l.Name, holder, age(l.CreationTimestamp, now)}
		},
	},
	keyNodes: {
		columns: []metav1.TableColumnDefinition{
			col("Name", "string", 0, ""), col("Status", "string", 0, "The status of the node"), col("Roles", "string", 0, "The roles of the node"), col("Age", "string", 0, ""),
			col("Version", "string", 0, v1.NodeSystemInfo{}.SwaggerDoc()["kubeletVersion"]), col("Internal-IP", "string", 1, v1.NodeStatus{}.SwaggerDoc()["addresses"]), col("External-IP", "string", 1, v1.NodeStatus{}.SwaggerDoc()["addresses"]),
			col("OS-Image", "string", 1, v1.NodeSystemInfo{}.SwaggerDoc()["osImage"]), col("Kernel-Version", "string", 1, v1.NodeSystemInfo{}.SwaggerDoc()["kernelVersion"]), col("Container-Runtime", "string", 1, v1.NodeSystemInfo{}.SwaggerDoc()["containerRuntimeVersion"]),
		},
		cells: func(o Object, now time.Time) []any { return nodeCells(o.(*v1.Node), now) },
	},
}

func init() {
	appsColumns := func(selector string) []metav1.TableColumnDefinition {
		return []metav1.TableColumnDefinition{col("Containers", "string", 1, containersDoc), col("Images", "string", 1, imagesDoc),
			col("Selector", "string", 1, selector)}
	}
	printerFor[keyDeployments] = printer{
		columns: append([]metav1.TableColumnDefinition{col("Name", "string", 0, ""), col("Ready", "string", 0, podReadyDoc),
			col("Up-to-date", "string", 0, appsv1.DeploymentStatus{}.SwaggerDoc()["updatedReplicas"]),
			col("Available", "string", 0, appsv1.DeploymentStatus{}.SwaggerDoc()["availableReplicas"]), col("Age", "string", 0, "")},
			appsColumns(deploymentSelectorDoc)...),
		cells: func(o Object, now time.Time) []any {
			d := o.(*appsv1.Deployment)
			want := int32(1)
			if d.Spec.Replicas != nil {
				want = *d.Spec.Replicas
			}
			c, i := containerCells(d.Spec.Template.Spec.Containers)
			return []any{d.Name, fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, want), int64(d.Status.UpdatedReplicas),
				int64(d.Status.AvailableReplicas), age(d.CreationTimestamp, now), c, i, selectorString(d.Spec.Selector)}
		},
	}
	printerFor[keyReplicaSets] = printer{
		columns: append([]metav1.TableColumnDefinition{col("Name", "string", 0, ""),
			col("Desired", "integer", 0, appsv1.ReplicaSetSpec{}.SwaggerDoc()["replicas"]),
			col("Current", "integer", 0, appsv1.ReplicaSetStatus{}.SwaggerDoc()["replicas"]),
			col("Ready", "integer", 0, appsv1.ReplicaSetStatus{}.SwaggerDoc()["readyReplicas"]), col("Age", "string", 0, "")},
			appsColumns(replicaSetSelectorDoc)...),
		cells: func(o Object, now time.Time) []any {
			rs := o.(*appsv1.ReplicaSet)
			want := int32(1)
			if rs.Spec.Replicas != nil {
				want = *rs.Spec.Replicas
			}
			c, i := containerCells(rs.Spec.Template.Spec.Containers)
			return []any{rs.Name, int64(want), int64(rs.Status.Replicas), int64(rs.Status.ReadyReplicas),
				age(rs.CreationTimestamp, now), c, i, selectorString(rs.Spec.Selector)}
		},
	}
}

func containerCells(cs []v1.Container) (string, string) {
	var names, images []string
	for _, c := range cs {
		names = append(names, c.Name)
		images = append(images, c.Image)
	}
	return strings.Join(names, ","), strings.Join(images, ",")
}

func selectorString(sel *metav1.LabelSelector) string {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return "<error>"
	}
	if str := s.String(); str != "" {
		return str
	}
	return "<none>"
}

var eventColumns = []metav1.TableColumnDefinition{
	col("Last Seen", "string", 0, v1.Event{}.SwaggerDoc()["lastTimestamp"]),
	col("Type", "string", 0, v1.Event{}.SwaggerDoc()["type"]),
	col("Reason", "string", 0, v1.Event{}.SwaggerDoc()["reason"]),
	col("Object", "string", 0, v1.Event{}.SwaggerDoc()["involvedObject"]),
	col("Subobject", "string", 1, v1.ObjectReference{}.SwaggerDoc()["fieldPath"]),
	col("Source", "string", 1, v1.Event{}.SwaggerDoc()["source"]),
	col("Message", "string", 0, v1.Event{}.SwaggerDoc()["message"]),
	col("First Seen", "string", 1, v1.Event{}.SwaggerDoc()["firstTimestamp"]),
	col("Count", "string", 1, v1.Event{}.SwaggerDoc()["count"]),
	col("Name", "string", 1, ""),
}

// eventCells follows the API server's printEvent.
func eventCells(e *v1.Event, now time.Time) []any {
	first := age(e.FirstTimestamp, now)
	if e.FirstTimestamp.IsZero() {
		first = microAge(e.EventTime, now)
	}
	var last string
	switch {
	case e.Series != nil:
		last = microAge(e.Series.LastObservedTime, now)
	case !e.LastTimestamp.IsZero():
		last = age(e.LastTimestamp, now)
	default:
		last = first
	}
	source := e.Source.Component
	if source == "" {
		source = e.ReportingController
	}
	host := e.Source.Host
	if host == "" {
		host = e.ReportingInstance
	}
	if host != "" {
		source += ", " + host
	}
	count := e.Count
	if e.Series != nil {
		count = e.Series.Count
	} else if count == 0 {
		count = 1
	}
	return []any{
		last, e.Type, e.Reason, strings.ToLower(e.InvolvedObject.Kind) + "/" + e.InvolvedObject.Name,
		e.InvolvedObject.FieldPath, source, strings.TrimSpace(e.Message), first, int64(count), e.Name,
	}
}

func microAge(t metav1.MicroTime, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return printers.HumanDuration(now.Sub(t.Time))
}

// nodeCells follows the API server's printNode.
func nodeCells(n *v1.Node, now time.Time) []any {
	var conds []string
	for _, c := range n.Status.Conditions {
		if c.Type != v1.NodeReady {
			continue
		}
		if c.Status == v1.ConditionTrue {
			conds = append(conds, "Ready")
		} else {
			conds = append(conds, "NotReady")
		}
	}
	if len(conds) == 0 {
		conds = append(conds, "Unknown")
	}
	if n.Spec.Unschedulable {
		conds = append(conds, "SchedulingDisabled")
	}
	var roles []string
	for k, v := range n.Labels {
		switch {
		case strings.HasPrefix(k, "node-role.kubernetes.io/"):
			if r := strings.TrimPrefix(k, "node-role.kubernetes.io/"); r != "" {
				roles = append(roles, r)
			}
		case k == "kubernetes.io/role" && v != "":
			roles = append(roles, v)
		}
	}
	sort.Strings(roles)
	role := strings.Join(roles, ",")
	if role == "" {
		role = "<none>"
	}
	addr := func(t v1.NodeAddressType) string {
		for _, a := range n.Status.Addresses {
			if a.Type == t {
				return a.Address
			}
		}
		return "<none>"
	}
	runtimeVersion := n.Status.NodeInfo.ContainerRuntimeVersion
	if runtimeVersion == "" {
		runtimeVersion = "<unknown>"
	}
	osImage, kernel := n.Status.NodeInfo.OSImage, n.Status.NodeInfo.KernelVersion
	if osImage == "" {
		osImage = "<unknown>"
	}
	if kernel == "" {
		kernel = "<unknown>"
	}
	return []any{n.Name, strings.Join(conds, ","), role, age(n.CreationTimestamp, now), n.Status.NodeInfo.KubeletVersion,
		addr(v1.NodeInternalIP), addr(v1.NodeExternalIP), osImage, kernel, runtimeVersion}
}

// formatEndpoints follows the API server's: up to three ip:port, then
// " + N more...".
func formatEndpoints(ep *v1.Endpoints) string {
	const max = 3
	var list []string
	more, count := false, 0
	for _, ss := range ep.Subsets {
		if len(ss.Ports) == 0 {
			for _, a := range ss.Addresses {
				if len(list) == max {
					more = true
				}
				if !more {
					list = append(list, a.IP)
				}
				count++
			}
			continue
		}
		for _, p := range ss.Ports {
			for _, a := range ss.Addresses {
				if len(list) == max {
					more = true
				}
				if !more {
					list = append(list, fmt.Sprintf("%s:%d", a.IP, p.Port))
				}
				count++
			}
		}
	}
	s := strings.Join(list, ",")
	if more {
		return fmt.Sprintf("%s + %d more...", s, count-max)
	}
	if s == "" {
		return "<none>"
	}
	return s
}

func slicePorts(ports []discoveryv1.EndpointPort) string {
	if len(ports) == 0 {
		return "<unset>"
	}
	var list []string
	for i, p := range ports {
		if i == 3 {
			return fmt.Sprintf("%s + %d more...", strings.Join(list, ","), len(ports)-3)
		}
		if p.Port == nil {
			list = append(list, "<unset>")
		} else {
			list = append(list, strconv.Itoa(int(*p.Port)))
		}
	}
	return strings.Join(list, ",")
}

func sliceEndpoints(eps []discoveryv1.Endpoint) string {
	var list []string
	count := 0
	for _, e := range eps {
		for _, a := range e.Addresses {
			if len(list) < 3 {
				list = append(list, a)
			}
			count++
		}
	}
	if count == 0 {
		return "<unset>"
	}
	if count > 3 {
		return fmt.Sprintf("%s + %d more...", strings.Join(list, ","), count-3)
	}
	return strings.Join(list, ",")
}

// fieldsFor returns the field selector keys the API server supports for a
// resource, with their values for o.
func fieldsFor(key string, o Object) fields.Set {
	set := fields.Set{"metadata.name": o.GetName()}
	if o.GetNamespace() != "" || key != keyNamespaces && key != keyNodes {
		set["metadata.namespace"] = o.GetNamespace()
	}
	switch x := o.(type) {
	case *v1.Pod:
		return api.PodFields(x)
	case *v1.Event:
		return api.EventFields(x)
	case *eventsv1.Event:
		set["reason"], set["type"] = x.Reason, x.Type
		set["regarding.kind"], set["regarding.name"] = x.Regarding.Kind, x.Regarding.Name
		set["regarding.namespace"], set["regarding.uid"] = x.Regarding.Namespace, string(x.Regarding.UID)
		set["reportingController"] = x.ReportingController
	case *v1.Service:
		set["spec.clusterIP"], set["spec.type"] = x.Spec.ClusterIP, string(x.Spec.Type)
	case *v1.Namespace:
		set["status.phase"] = string(x.Status.Phase)
	case *v1.Node:
		set["spec.unschedulable"] = strconv.FormatBool(x.Spec.Unschedulable)
	}
	return set
}

// supportedFields checks that sel only uses keys the resource supports,
// with the API server's message otherwise.
func supportedFields(key string, sample Object, sel fields.Selector) error {
	set := fieldsFor(key, sample)
	for _, r := range sel.Requirements() {
		if _, ok := set[r.Field]; !ok {
			return fmt.Errorf("field label not supported: %s", r.Field)
		}
	}
	return nil
}

// sampleObject is an empty object of the resource, to learn its field keys.
func sampleObject(key string) Object {
	switch key {
	case keyPods:
		return &v1.Pod{}
	case keyServices:
		return &v1.Service{}
	case keyEvents:
		return &v1.Event{}
	case keyEventsV1:
		return &eventsv1.Event{}
	case keyNamespaces:
		return &v1.Namespace{}
	case keyNodes:
		return &v1.Node{}
	case keyEndpointSlices:
		return &discoveryv1.EndpointSlice{}
	case keyConfigMaps:
		return &v1.ConfigMap{}
	case keySecrets:
		return &v1.Secret{}
	case keyDeployments:
		return &appsv1.Deployment{}
	case keyReplicaSets:
		return &appsv1.ReplicaSet{}
	case keyLeases:
		return &coordinationv1.Lease{}
	}
	return &v1.Endpoints{}
}

var _ runtime.Object = (*metav1.Table)(nil)
