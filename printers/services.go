package printers

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// ServiceHeaders returns the header row of the Service table.
func ServiceHeaders(opts Options) []string {
	h := []string{"NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"}
	if opts.Wide {
		h = append(h, "SELECTOR")
	}
	if opts.WithNamespace {
		h = append([]string{"NAMESPACE"}, h...)
	}
	return h
}

// PrintServices writes Services as `kubectl get services` does, in the
// order given; nothing at all when there are none (the caller says "No
// resources found").
func PrintServices(w io.Writer, svcs []*v1.Service, opts Options) error {
	if len(svcs) == 0 {
		return nil
	}
	rows := make([][]string, 0, len(svcs)+1)
	if !opts.NoHeaders {
		rows = append(rows, ServiceHeaders(opts))
	}
	for _, s := range svcs {
		rows = append(rows, ServiceRow(s, opts))
	}
	return NewTableWriter(w).WriteRows(rows)
}

// ServiceRow is one row of the Service table, computed like the API
// server's printService (Kubernetes 1.34): CLUSTER-IP is the first of
// spec.clusterIPs ("None" for a headless Service), EXTERNAL-IP follows the
// type, PORT(S) is port/protocol (port:nodePort/protocol with a node port),
// SELECTOR (wide) the selector as k=v pairs.
func ServiceRow(svc *v1.Service, opts Options) []string {
	now := nowOr(opts.Now)
	clusterIP := "<none>"
	if len(svc.Spec.ClusterIPs) > 0 {
		clusterIP = svc.Spec.ClusterIPs[0]
	}
	ports := servicePorts(svc.Spec.Ports)
	if ports == "" {
		ports = "<none>"
	}
	row := []string{svc.Name, string(svc.Spec.Type), clusterIP, serviceExternalIP(svc, opts.Wide), ports,
		TranslateTimestampSince(svc.CreationTimestamp, now)}
	if opts.Wide {
		row = append(row, labels.FormatLabels(svc.Spec.Selector))
	}
	if opts.WithNamespace {
		row = append([]string{svc.Namespace}, row...)
	}
	return row
}

func servicePorts(ports []v1.ServicePort) string {
	pieces := make([]string, len(ports))
	for i, p := range ports {
		pieces[i] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		if p.NodePort > 0 {
			pieces[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
		}
	}
	return strings.Join(pieces, ",")
}

// serviceExternalIP is the EXTERNAL-IP cell (printers.go getServiceExternalIP).
func serviceExternalIP(svc *v1.Service, wide bool) string {
	switch svc.Spec.Type {
	case v1.ServiceTypeClusterIP, v1.ServiceTypeNodePort:
		if len(svc.Spec.ExternalIPs) > 0 {
			return strings.Join(svc.Spec.ExternalIPs, ",")
		}
		return "<none>"
	case v1.ServiceTypeLoadBalancer:
		var ips []string
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if in.IP != "" {
				ips = append(ips, in.IP)
			} else if in.Hostname != "" {
				ips = append(ips, in.Hostname)
			}
		}
		lb := strings.Join(ips, ",")
		if len(lb) > 16 && !wide {
			lb = lb[:13] + "..."
		}
		if len(svc.Spec.ExternalIPs) > 0 {
			var all []string
			if lb != "" {
				all = append(all, strings.Split(lb, ",")...)
			}
			return strings.Join(append(all, svc.Spec.ExternalIPs...), ",")
		}
		if lb != "" {
			return lb
		}
		return "<pending>"
	case v1.ServiceTypeExternalName:
		return svc.Spec.ExternalName
	}
	return "<unknown>"
}

// DescribeService writes the text of `kubectl describe service` (kubectl
// 1.34) for svc, the Endpoints of it (nil when it has none, as for a
// Service without selector) and its events, with ages measured at now.
//
// kubectl reads the endpoints from EndpointSlices; the Endpoints object
// carries the same addresses. Each port's "Endpoints:" line lists the ready
// addresses serving that port as ip:port, three at most then
// "+ N more...", "<none>" when the Service has no endpoints object, and
// nothing when the object has no ready address.
func DescribeService(w io.Writer, svc *v1.Service, ep *v1.Endpoints, events []v1.Event, now time.Time) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 8, 2, ' ', 0)
	d := &describer{tw: tw, now: nowOr(now)}
	d.describeService(svc, ep, events)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("describe service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("describe service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	return nil
}

func (d *describer) describeService(svc *v1.Service, ep *v1.Endpoints, events []v1.Event) {
	spec := &svc.Spec
	d.write(0, "Name:\t%s\n", svc.Name)
	d.write(0, "Namespace:\t%s\n", svc.Namespace)
	d.labels("Labels", svc.Labels)
	d.annotations("Annotations", svc.Annotations)
	d.write(0, "Selector:\t%s\n", labels.FormatLabels(spec.Selector))
	d.write(0, "Type:\t%s\n", spec.Type)
	if spec.IPFamilyPolicy != nil {
		d.write(0, "IP Family Policy:\t%s\n", *spec.IPFamilyPolicy)
	}
	if len(spec.IPFamilies) > 0 {
		fams := make([]string, len(spec.IPFamilies))
		for i, f := range spec.IPFamilies {
			fams[i] = string(f)
		}
		d.write(0, "IP Families:\t%s\n", strings.Join(fams, ","))
	} else {
		d.write(0, "IP Families:\t<none>\n")
	}
	d.write(0, "IP:\t%s\n", spec.ClusterIP)
	if len(spec.ClusterIPs) > 0 {
		d.write(0, "IPs:\t%s\n", strings.Join(spec.ClusterIPs, ","))
	} else {
		d.write(0, "IPs:\t<none>\n")
	}
	if len(spec.ExternalIPs) > 0 {
		d.write(0, "External IPs:\t%v\n", strings.Join(spec.ExternalIPs, ","))
	}
	if spec.LoadBalancerIP != "" {
		d.write(0, "Desired LoadBalancer IP:\t%s\n", spec.LoadBalancerIP)
	}
	if spec.ExternalName != "" {
		d.write(0, "External Name:\t%s\n", spec.ExternalName)
	}
	for _, sp := range spec.Ports {
		name := sp.Name
		if name == "" {
			name = "<unset>"
		}
		d.write(0, "Port:\t%s\t%d/%s\n", name, sp.Port, sp.Protocol)
		if sp.TargetPort.Type == intstr.Int {
			d.write(0, "TargetPort:\t%d/%s\n", sp.TargetPort.IntVal, sp.Protocol)
		} else {
			d.write(0, "TargetPort:\t%s/%s\n", sp.TargetPort.StrVal, sp.Protocol)
		}
		if sp.AppProtocol != nil {
			d.write(0, "AppProtocol:\t%s\n", *sp.AppProtocol)
		}
		if sp.NodePort != 0 {
			d.write(0, "NodePort:\t%s\t%d/%s\n", name, sp.NodePort, sp.Protocol)
		}
		d.write(0, "Endpoints:\t%s\n", formatEndpoints(ep, sp.Name))
	}
	d.write(0, "Session Affinity:\t%s\n", spec.SessionAffinity)
	if spec.ExternalTrafficPolicy != "" {
		d.write(0, "External Traffic Policy:\t%s\n", spec.ExternalTrafficPolicy)
	}
	if spec.InternalTrafficPolicy != nil {
		d.write(0, "Internal Traffic Policy:\t%s\n", *spec.InternalTrafficPolicy)
	}
	if spec.HealthCheckNodePort != 0 {
		d.write(0, "HealthCheck NodePort:\t%d\n", spec.HealthCheckNodePort)
	}
	if len(spec.LoadBalancerSourceRanges) > 0 {
		d.write(0, "LoadBalancer Source Ranges:\t%v\n", strings.Join(spec.LoadBalancerSourceRanges, ","))
	}
	if spec.TrafficDistribution != nil {
		d.write(0, "Traffic Distribution:\t%s\n", *spec.TrafficDistribution)
	}
	d.events(events)
}

// formatEndpoints is kubectl's formatEndpointSlices over an Endpoints
// object, for the port named portName.
func formatEndpoints(ep *v1.Endpoints, portName string) string {
	if ep == nil {
		return "<none>"
	}
	const max = 3
	var list []string
	count := 0
	for _, s := range ep.Subsets {
		if len(s.Ports) == 0 {
			// A headless Service may have no ports.
			for _, a := range s.Addresses {
				if len(list) < max {
					list = append(list, a.IP)
				}
				count++
			}
			continue
		}
		for _, p := range s.Ports {
			if p.Name != portName {
				continue
			}
			for _, a := range s.Addresses {
				if len(list) < max {
					list = append(list, net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
				}
				count++
			}
		}
	}
	ret := strings.Join(list, ",")
	if count > max {
		return fmt.Sprintf("%s + %d more...", ret, count-max)
	}
	return ret
}
