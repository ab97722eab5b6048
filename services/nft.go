package services

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// RulesetInput is what the proxy rules are made from.
type RulesetInput struct {
	// Table is the nftables table (family ip) the agent owns.
	Table string
	// Services are the published Services; those without a ClusterIP
	// (headless) get no rules.
	Services []*v1.Service
	// Endpoints are the Services' Endpoints by "namespace/name".
	Endpoints map[string]*v1.Endpoints
	// DNSIPs are the cluster DNS addresses served on this machine: port 53
	// (UDP and TCP) is open on them, nothing else is.
	DNSIPs []string
}

// RenderRuleset writes the agent's nftables table, kube-proxy style, as one
// `nft -f` script that replaces the table atomically (create it so that the
// delete cannot fail, delete it, define it anew: nft applies a file as one
// transaction, so no packet sees a half-written table).
//
//   - nat prerouting (traffic from pods) and nat output (from the host) send
//     ClusterIP:port of a Service with ready endpoints to its chain, which
//     picks one endpoint at random (numgen random mod N) and DNATs to it,
//     like kube-proxy's KUBE-SVC/KUBE-SEP chains with their statistic
//     probabilities.
//   - nat postrouting masquerades every connection DNATed from a ClusterIP:
//     that makes hairpin traffic (a pod reaching itself through its Service)
//     and pod-to-pod traffic on one bridge work whether or not bridge
//     netfilter is on, at the price of the backend seeing the node's
//     address rather than the client pod's.
//   - filter input accepts connections DNATed by these rules (an endpoint
//     may be a local address: the API server's) and rejects what reaches a ClusterIP or the DNS address
//     without being DNATed: a Service port with no ready endpoint (TCP
//     reset, ICMP port unreachable otherwise, as kube-proxy's REJECT), a
//     port the Service does not have, and anything but port 53 on the DNS
//     address. These addresses are local (the agent's dummy interface holds
//     them), so without this a pod could reach the node's own services
//     through them.
//
// It is a pure function of in, so it can be golden-tested.
func RenderRuleset(in RulesetInput) string {
	var b strings.Builder
	t := in.Table
	fmt.Fprintf(&b, "table ip %s\ndelete table ip %s\ntable ip %s {\n", t, t, t)

	type portRule struct {
		svc      *v1.Service
		port     v1.ServicePort
		backends []Backend
	}
	var rules []portRule
	var clusterIPs []string
	for _, svc := range in.Services {
		ip := svc.Spec.ClusterIP
		if ip == "" || ip == v1.ClusterIPNone {
			continue
		}
		clusterIPs = append(clusterIPs, ip)
		ep := in.Endpoints[key(svc)]
		for _, p := range svc.Spec.Ports {
			rules = append(rules, portRule{svc: svc, port: p, backends: ReadyEndpoints(ep, p.Name)})
		}
	}
	sortIPs(clusterIPs)
	dnsIPs := append([]string(nil), in.DNSIPs...)
	sortIPs(dnsIPs)
	local := append(append([]string(nil), clusterIPs...), dnsIPs...)
	sortIPs(local)

	writeSet(&b, "cluster-ips", clusterIPs)
	writeSet(&b, "local-ips", local)

	b.WriteString("\tchain nat-prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\tjump services\n\t}\n\n")
	b.WriteString("\tchain nat-output {\n\t\ttype nat hook output priority -100; policy accept;\n\t\tjump services\n\t}\n\n")
	b.WriteString("\tchain nat-postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n" +
		"\t\tct status dnat ct original ip daddr @cluster-ips masquerade\n\t}\n\n")

	b.WriteString("\tchain filter-input {\n\t\ttype filter hook input priority filter; policy accept;\n")
	b.WriteString("\t\tip daddr @local-ips ct state established,related accept\n")
	// A Service whose endpoint is a local address (the `kubernetes`
	// Service: the API listens on its ClusterIP) is reached through its
	// DNAT only.
	b.WriteString("\t\tip daddr @local-ips ct status dnat accept\n")
	for _, ip := range dnsIPs {
		fmt.Fprintf(&b, "\t\tip daddr %s udp dport 53 accept\n", ip)
		fmt.Fprintf(&b, "\t\tip daddr %s tcp dport 53 accept\n", ip)
	}
	b.WriteString("\t\tip daddr @local-ips meta l4proto tcp reject with tcp reset\n")
	b.WriteString("\t\tip daddr @local-ips reject\n\t}\n\n")

	b.WriteString("\tchain services {\n")
	for _, r := range rules {
		if len(r.backends) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\t\tip daddr %s %s dport %d goto %s comment %q\n",
			r.svc.Spec.ClusterIP, l4(r.port.Protocol), r.port.Port, svcChain(r.svc, r.port), portComment(r.svc, r.port)+" cluster IP")
	}
	b.WriteString("\t}\n")

	for _, r := range rules {
		if len(r.backends) == 0 {
			continue
		}
		chain := svcChain(r.svc, r.port)
		fmt.Fprintf(&b, "\n\tchain %s {\n", chain)
		var arms []string
		for i, be := range r.backends {
			arms = append(arms, fmt.Sprintf("%d : goto %s", i, epChain(r.svc, r.port, be)))
		}
		fmt.Fprintf(&b, "\t\tnumgen random mod %d vmap { %s }\n\t}\n", len(r.backends), strings.Join(arms, ", "))
		for _, be := range r.backends {
			fmt.Fprintf(&b, "\n\tchain %s {\n\t\tmeta l4proto %s dnat to %s:%d\n\t}\n",
				epChain(r.svc, r.port, be), l4(r.port.Protocol), be.IP, be.Port)
		}
	}
	b.WriteString("}\n")
	return b.String()
}

func writeSet(b *strings.Builder, name string, ips []string) {
	fmt.Fprintf(b, "\tset %s {\n\t\ttype ipv4_addr\n", name)
	if len(ips) > 0 {
		fmt.Fprintf(b, "\t\telements = { %s }\n", strings.Join(ips, ", "))
	}
	b.WriteString("\t}\n\n")
}

// l4 is the nft protocol keyword of a Service port protocol.
func l4(p v1.Protocol) string { return strings.ToLower(string(p)) }

// svcChain names a Service port's chain like kube-proxy's nftables mode
// does (<namespace>/<name>/<protocol>/<port>): readable in `nft list`, and
// unique because a Service has one port per protocol and number.
func svcChain(svc *v1.Service, p v1.ServicePort) string {
	return fmt.Sprintf("svc-%s/%s/%s/%d", svc.Namespace, svc.Name, l4(p.Protocol), p.Port)
}

func epChain(svc *v1.Service, p v1.ServicePort, be Backend) string {
	return fmt.Sprintf("ep-%s/%s/%s/%d__%s/%d", svc.Namespace, svc.Name, l4(p.Protocol), p.Port, be.IP, be.Port)
}

// portComment is kube-proxy's "<ns>/<svc>:<portName>" service port name.
func portComment(svc *v1.Service, p v1.ServicePort) string {
	return fmt.Sprintf("%s/%s:%s", svc.Namespace, svc.Name, p.Name)
}

func sortIPs(ips []string) {
	sort.Slice(ips, func(i, j int) bool { return ipSortKey(ips[i]) < ipSortKey(ips[j]) })
}

// NFT runs Debian's nft binary. The agent drives nftables through it rather
// than through a netlink library: the ruleset is plain text that tests
// compare with golden files and people can read with `nft list table`, and
// one `nft -f` is one kernel transaction, which is the atomic replace the
// proxy needs.
type NFT struct {
	// Binary is the nft program; "" looks for it in PATH, then /usr/sbin.
	Binary string
}

func (n NFT) binary() (string, error) {
	if n.Binary != "" {
		return n.Binary, nil
	}
	if p, err := exec.LookPath("nft"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/nft", "/sbin/nft"} {
		if _, err := exec.LookPath(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("nft not found (install Debian's nftables package)")
}

// Apply runs ruleset as one nft transaction.
func (n NFT) Apply(ctx context.Context, ruleset string) error {
	bin, err := n.binary()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin, "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("nft -f: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// DeleteTable removes the ip table name; a missing table is not an error.
func (n NFT) DeleteTable(ctx context.Context, name string) error {
	bin, err := n.binary()
	if err != nil {
		return err
	}
	// Creating it first makes the delete succeed whether or not it exists,
	// in one transaction.
	cmd := exec.CommandContext(ctx, bin, "-f", "-")
	cmd.Stdin = strings.NewReader(fmt.Sprintf("table ip %s\ndelete table ip %s\n", name, name))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("delete nft table ip %s: %w: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
