package runtime

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// This file holds the pure functions behind a pod's hostname, /etc/hosts and
// /etc/resolv.conf, written after the kubelet's rules (kubelet_pods.go
// GeneratePodHostNameAndDomain, managedHostsFileContent; network/dns/dns.go).

const defaultClusterDomain = "cluster.local"

// podHostname returns the pod's hostname and, with a subdomain, its domain
// (<subdomain>.<ns>.svc.<clusterDomain>).
func podHostname(pod *v1.Pod, clusterDomain string) (hostname, domain string, err error) {
	hostname = pod.Name
	if h := pod.Spec.Hostname; h != "" {
		if msgs := validation.IsDNS1123Label(h); len(msgs) > 0 {
			return "", "", fmt.Errorf("pod %s/%s: spec.hostname %q: %s", pod.Namespace, pod.Name, h, strings.Join(msgs, "; "))
		}
		hostname = h
	}
	if len(hostname) > validation.DNS1123LabelMaxLength {
		hostname = strings.TrimRight(hostname[:validation.DNS1123LabelMaxLength], "-.")
		if hostname == "" {
			return "", "", fmt.Errorf("pod %s/%s: hostname %q is empty once truncated to 63 characters", pod.Namespace, pod.Name, pod.Name)
		}
	}
	if sub := pod.Spec.Subdomain; sub != "" {
		if msgs := validation.IsDNS1123Label(sub); len(msgs) > 0 {
			return "", "", fmt.Errorf("pod %s/%s: spec.subdomain %q: %s", pod.Namespace, pod.Name, sub, strings.Join(msgs, "; "))
		}
		if clusterDomain == "" {
			clusterDomain = defaultClusterDomain
		}
		domain = fmt.Sprintf("%s.%s.svc.%s", sub, pod.Namespace, clusterDomain)
	}
	return hostname, domain, nil
}

// utsHostname is the hostname the pod's UTS namespace gets: the FQDN with
// setHostnameAsFQDN, else the short name. The kernel limits it to 64 bytes.
func utsHostname(pod *v1.Pod, hostname, domain string) (string, error) {
	if pod.Spec.SetHostnameAsFQDN == nil || !*pod.Spec.SetHostnameAsFQDN || domain == "" {
		return hostname, nil
	}
	fqdn := hostname + "." + domain
	if len(fqdn) > 64 {
		return "", fmt.Errorf("pod %s/%s: FQDN %q is longer than 64 characters (setHostnameAsFQDN)", pod.Namespace, pod.Name, fqdn)
	}
	return fqdn, nil
}

// hostsFileContent renders the kubelet-managed /etc/hosts.
func hostsFileContent(hostname, domain string, podIPs []string, aliases []v1.HostAlias) []byte {
	var b bytes.Buffer
	b.WriteString("# Kubernetes-managed hosts file.\n")
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\n")
	b.WriteString("fe00::0\tip6-mcastprefix\n")
	b.WriteString("fe00::1\tip6-allnodes\n")
	b.WriteString("fe00::2\tip6-allrouters\n")
	for _, ip := range podIPs {
		if domain != "" {
			fmt.Fprintf(&b, "%s\t%s.%s\t%s\n", ip, hostname, domain, hostname)
		} else {
			fmt.Fprintf(&b, "%s\t%s\n", ip, hostname)
		}
	}
	writeHostAliases(&b, aliases)
	return b.Bytes()
}

// writeHostAliases appends the pod's hostAliases block to a hosts file.
func writeHostAliases(b *bytes.Buffer, aliases []v1.HostAlias) {
	if len(aliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, a := range aliases {
			fmt.Fprintf(b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
		}
	}
}

// dnsSettings is the node-level DNS configuration: the kubelet's clusterDNS
// and clusterDomain, and Host, the node's resolver (its --resolv-conf file).
type dnsSettings struct {
	ClusterDNS    []string
	ClusterDomain string
	Host          dnsConfig
}

// dnsConfig is what ends up in a pod's resolv.conf.
type dnsConfig struct {
	Nameservers []string
	Searches    []string
	Options     []string // "name" or "name:value"
}

// Limits the kubelet applies when it writes resolv.conf.
const (
	maxDNSNameservers = 3
	maxDNSSearches    = 32
	maxDNSSearchChars = 2048
)

// podDNS computes a pod's resolver configuration as the kubelet's GetPodDNS
// does: Default, ClusterFirst on the host network and ClusterFirst without
// clusterDNS take the node's resolver; the cluster policies put the node's
// search domains after the cluster's. fellBack reports the fallback of
// ClusterFirst without clusterDNS, which the kubelet warns about.
func podDNS(pod *v1.Pod, s dnsSettings) (cfg dnsConfig, fellBack bool, err error) {
	domain := s.ClusterDomain
	if domain == "" {
		domain = defaultClusterDomain
	}
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = v1.DNSClusterFirst
	}
	if policy == v1.DNSClusterFirst && pod.Spec.HostNetwork {
		policy = v1.DNSDefault // the kubelet's fallback; ClusterFirstWithHostNet asks for the cluster's
	}
	switch policy {
	case v1.DNSClusterFirst, v1.DNSClusterFirstWithHostNet:
		if len(s.ClusterDNS) == 0 {
			fellBack = true
			cfg = s.Host.clone()
			break
		}
		cfg.Nameservers = slices.Clone(s.ClusterDNS)
		cfg.Searches = append([]string{pod.Namespace + ".svc." + domain, "svc." + domain, domain}, s.Host.Searches...)
		cfg.Options = []string{"ndots:5"}
	case v1.DNSDefault:
		cfg = s.Host.clone()
	case v1.DNSNone:
		if pod.Spec.DNSConfig == nil {
			return dnsConfig{}, false, fmt.Errorf("pod %s/%s: dnsPolicy None requires spec.dnsConfig", pod.Namespace, pod.Name)
		}
	default:
		return dnsConfig{}, false, fmt.Errorf("pod %s/%s: unknown dnsPolicy %q", pod.Namespace, pod.Name, policy)
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		cfg.Nameservers = append(cfg.Nameservers, dc.Nameservers...)
		cfg.Searches = append(cfg.Searches, dc.Searches...)
		for _, o := range dc.Options {
			cfg.Options = mergeDNSOption(cfg.Options, o)
		}
	}
	cfg.Nameservers = dedupe(cfg.Nameservers)
	if len(cfg.Nameservers) > maxDNSNameservers {
		cfg.Nameservers = cfg.Nameservers[:maxDNSNameservers]
	}
	cfg.Searches = fitSearches(dedupe(cfg.Searches))
	return cfg, fellBack, nil
}

func (c dnsConfig) clone() dnsConfig {
	return dnsConfig{Nameservers: slices.Clone(c.Nameservers), Searches: slices.Clone(c.Searches), Options: slices.Clone(c.Options)}
}

// parseResolvConf reads a node's resolv.conf as the kubelet does: the
// nameservers in order, the last search line (without trailing dots, the
// root domain dropped) and the options merged by name; lines starting with
// '#' or ';' are comments.
func parseResolvConf(r io.Reader) (dnsConfig, error) {
	var cfg dnsConfig
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") || strings.HasPrefix(fields[0], ";") {
			continue
		}
		switch fields[0] {
		case "nameserver":
			if len(fields) > 1 {
				cfg.Nameservers = append(cfg.Nameservers, fields[1])
			}
		case "search":
			cfg.Searches = nil
			for _, d := range fields[1:] {
				if d = strings.TrimSuffix(d, "."); d != "" {
					cfg.Searches = append(cfg.Searches, d)
				}
			}
		case "options":
			for _, o := range fields[1:] {
				name, value, hasValue := strings.Cut(o, ":")
				opt := v1.PodDNSConfigOption{Name: name}
				if hasValue {
					opt.Value = &value
				}
				cfg.Options = mergeDNSOption(cfg.Options, opt)
			}
		}
	}
	return cfg, sc.Err()
}

// mergeDNSOption adds o to opts; an option of the same name is replaced.
func mergeDNSOption(opts []string, o v1.PodDNSConfigOption) []string {
	s := o.Name
	if o.Value != nil {
		s += ":" + *o.Value
	}
	for i, existing := range opts {
		if name, _, _ := strings.Cut(existing, ":"); name == o.Name {
			opts[i] = s
			return opts
		}
	}
	return append(opts, s)
}

// fitSearches trims the search list to the resolver limits the kubelet
// enforces (32 domains, 2048 characters).
func fitSearches(s []string) []string {
	if len(s) > maxDNSSearches {
		s = s[:maxDNSSearches]
	}
	for len(s) > 0 && len(strings.Join(s, " ")) > maxDNSSearchChars {
		s = s[:len(s)-1]
	}
	return s
}

func dedupe(in []string) []string {
	var out []string
	for _, s := range in {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// resolvConfContent renders resolv.conf the way containerd does.
func resolvConfContent(cfg dnsConfig) []byte {
	var b bytes.Buffer
	if len(cfg.Searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(cfg.Searches, " "))
	}
	for _, ns := range cfg.Nameservers {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if len(cfg.Options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(cfg.Options, " "))
	}
	return b.Bytes()
}
