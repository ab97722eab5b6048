// Package dns is the node's cluster DNS server: it answers for the cluster
// domain from the published Services, following the Kubernetes DNS-Based
// Service Discovery specification (github.com/kubernetes/dns,
// docs/specification.md) the way CoreDNS's kubernetes plugin does:
//
//   - A   <svc>.<ns>.svc.<domain>: the ClusterIP; for a headless Service the
//     IPs of its ready endpoints (NXDOMAIN while it has none).
//   - A   <host>.<svc>.<ns>.svc.<domain> for a headless Service's endpoint,
//     host being its hostname or its IP with dashes (10-244-0-5).
//   - SRV _<port>._<proto>.<svc>.<ns>.svc.<domain> for named ports, and all
//     named ports for an SRV query on the Service's own name.
//   - PTR for ClusterIPs.
//   - An existing name asked for another type (AAAA on this IPv4-only node)
//     is NOERROR with no answer and the zone's SOA: resolvers then return
//     "no address" for that type only, and nslookup still succeeds.
//   - Any other name under the cluster domain is NXDOMAIN.
//
// It never forwards: a name outside the cluster domain (or a reverse name
// outside the service CIDR) is answered REFUSED, so no query ever leaves
// the node.
package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
)

// DefaultTTL is CoreDNS's kubernetes plugin default TTL.
const DefaultTTL = 5

// Source is what the server answers from; services.Store implements it.
type Source interface {
	GetService(namespace, name string) (*v1.Service, bool)
	GetEndpoints(namespace, name string) (*v1.Endpoints, bool)
	ServiceByClusterIP(ip string) (*v1.Service, bool)
	ListServices(namespace string) []*v1.Service
}

// Config configures a Server.
type Config struct {
	// Domain is the cluster domain, e.g. "cluster.local".
	Domain string
	// ServiceCIDR is where ClusterIPs live: PTR queries inside it are
	// answered (NXDOMAIN for a free address), others are refused.
	ServiceCIDR *net.IPNet
	// TTL of the answers; 0 means DefaultTTL.
	TTL uint32
}

// Server answers DNS queries over UDP and TCP. Create it with New.
type Server struct {
	log  *zap.Logger
	src  Source
	zone string // the cluster domain, lower case, fully qualified
	cidr *net.IPNet
	ttl  uint32

	mu      sync.Mutex
	servers []*dns.Server
}

// New returns a server for cfg; it does not listen until Start.
func New(log *zap.Logger, cfg Config, src Source) *Server {
	ttl := cfg.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	domain := cfg.Domain
	if domain == "" {
		domain = "cluster.local"
	}
	return &Server{log: log, src: src, zone: dns.Fqdn(strings.ToLower(domain)), cidr: cfg.ServiceCIDR, ttl: ttl}
}

// Start listens on addr ("ip:port") over UDP and TCP and serves in the
// background until Shutdown. With port 0 both use the same free port.
// It returns once both sockets are bound and served, so a client may query
// right away.
func (s *Server) Start(addr string) (net.Addr, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("DNS address %q: %w", addr, err)
	}
	var pc net.PacketConn
	var l net.Listener
	// With port 0 the kernel picks the UDP port; the TCP one must match,
	// which may take another try if that port is taken for TCP.
	for attempt := 0; ; attempt++ {
		pc, err = net.ListenPacket("udp", net.JoinHostPort(host, port))
		if err != nil {
			return nil, fmt.Errorf("listen on %s/udp: %w", addr, err)
		}
		_, p, _ := net.SplitHostPort(pc.LocalAddr().String())
		l, err = net.Listen("tcp", net.JoinHostPort(host, p))
		if err == nil {
			break
		}
		pc.Close()
		if port != "0" || attempt == 10 {
			return nil, fmt.Errorf("listen on %s/tcp: %w", net.JoinHostPort(host, p), err)
		}
	}
	udp := &dns.Server{PacketConn: pc, Handler: s}
	tcp := &dns.Server{Listener: l, Handler: s, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
	for _, srv := range []*dns.Server{udp, tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		errc := make(chan error, 1)
		go func(srv *dns.Server) { errc <- srv.ActivateAndServe() }(srv)
		select {
		case <-started:
		case err := <-errc:
			s.Shutdown(context.Background())
			pc.Close()
			l.Close()
			return nil, fmt.Errorf("serve DNS on %s: %w", addr, err)
		}
		s.mu.Lock()
		s.servers = append(s.servers, srv)
		s.mu.Unlock()
	}
	s.log.Info("cluster DNS listening", zap.String("addr", pc.LocalAddr().String()), zap.String("domain", strings.TrimSuffix(s.zone, ".")))
	return pc.LocalAddr(), nil
}

// Shutdown stops serving and closes the sockets.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	servers := s.servers
	s.servers = nil
	s.mu.Unlock()
	var errs []error
	for _, srv := range servers {
		if err := srv.ShutdownContext(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ServeDNS implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := s.Answer(r)
	if _, isUDP := w.RemoteAddr().(*net.UDPAddr); isUDP {
		size := dns.MinMsgSize
		if o := r.IsEdns0(); o != nil {
			size = int(o.UDPSize())
		}
		m.Truncate(size)
	}
	if err := w.WriteMsg(m); err != nil {
		s.log.Debug("DNS reply not sent", zap.Error(err))
	}
}

// Answer computes the reply to r. It is pure given the source's state, so
// tests can call it directly.
func (s *Server) Answer(r *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	if r.Opcode != dns.OpcodeQuery {
		return m.SetRcode(r, dns.RcodeNotImplemented)
	}
	if len(r.Question) != 1 {
		return m.SetRcodeFormatError(r)
	}
	m.SetReply(r)
	if o := r.IsEdns0(); o != nil {
		m.SetEdns0(max(o.UDPSize(), dns.MinMsgSize), false)
	}
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	switch {
	case q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY:
		m.Rcode = dns.RcodeRefused
	case dns.IsSubDomain(s.zone, name):
		m.Authoritative = true
		s.answerCluster(m, q, name)
	case strings.HasSuffix(name, ".in-addr.arpa."):
		s.answerReverse(m, q, name)
	default:
		// Never forwarded: there is no upstream.
		m.Rcode = dns.RcodeRefused
	}
	return m
}

// answerCluster answers a name under the cluster domain.
func (s *Server) answerCluster(m *dns.Msg, q dns.Question, name string) {
	rel := strings.TrimSuffix(strings.TrimSuffix(name, s.zone), ".")
	var labels []string
	if rel != "" {
		labels = strings.Split(rel, ".")
	}
	n := len(labels)
	switch {
	case n == 0: // the zone apex
		if q.Qtype == dns.TypeSOA {
			m.Answer = append(m.Answer, s.soa())
			return
		}
		s.noData(m)
	case n == 1 && labels[0] == "svc":
		s.noData(m)
	case n == 2 && labels[1] == "svc":
		// A namespace: exists while it has Services.
		if len(s.src.ListServices(labels[0])) > 0 {
			s.noData(m)
			return
		}
		s.nxDomain(m)
	case n == 3 && labels[2] == "svc":
		s.answerService(m, q, name, labels[1], labels[0])
	case n == 4 && labels[3] == "svc":
		s.answerEndpoint(m, q, labels[2], labels[1], labels[0])
	case n == 5 && labels[4] == "svc" && strings.HasPrefix(labels[0], "_") && strings.HasPrefix(labels[1], "_"):
		s.answerPortSRV(m, q, labels[3], labels[2], labels[0][1:], labels[1][1:])
	default:
		s.nxDomain(m)
	}
}

func (s *Server) answerService(m *dns.Msg, q dns.Question, name, ns, svcName string) {
	svc, ok := s.src.GetService(ns, svcName)
	if !ok {
		s.nxDomain(m)
		return
	}
	headless := svc.Spec.ClusterIP == v1.ClusterIPNone
	var ready []readyAddr
	if headless {
		ready = s.readyAddresses(ns, svcName)
		if len(ready) == 0 {
			// A headless Service with no ready endpoint has no records.
			s.nxDomain(m)
			return
		}
	}
	switch q.Qtype {
	case dns.TypeA, dns.TypeANY:
		if headless {
			seen := map[string]bool{}
			for _, a := range ready {
				if !seen[a.ip] {
					seen[a.ip] = true
					m.Answer = append(m.Answer, s.a(q.Name, a.ip))
				}
			}
			return
		}
		m.Answer = append(m.Answer, s.a(q.Name, svc.Spec.ClusterIP))
	case dns.TypeSRV:
		s.srvRecords(m, q.Name, svc, ready, "", "")
		if len(m.Answer) == 0 {
			s.noData(m)
		}
	default:
		s.noData(m)
	}
}

// answerEndpoint answers <host>.<svc>.<ns>.svc: one endpoint of a headless
// Service.
func (s *Server) answerEndpoint(m *dns.Msg, q dns.Question, ns, svcName, host string) {
	svc, ok := s.src.GetService(ns, svcName)
	if !ok || svc.Spec.ClusterIP != v1.ClusterIPNone {
		s.nxDomain(m)
		return
	}
	for _, a := range s.readyAddresses(ns, svcName) {
		if a.host != host {
			continue
		}
		if q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY {
			m.Answer = append(m.Answer, s.a(q.Name, a.ip))
		} else {
			s.noData(m)
		}
		return
	}
	s.nxDomain(m)
}

// answerPortSRV answers _<port>._<proto>.<svc>.<ns>.svc.
func (s *Server) answerPortSRV(m *dns.Msg, q dns.Question, ns, svcName, port, proto string) {
	svc, ok := s.src.GetService(ns, svcName)
	if !ok {
		s.nxDomain(m)
		return
	}
	var ready []readyAddr
	if svc.Spec.ClusterIP == v1.ClusterIPNone {
		ready = s.readyAddresses(ns, svcName)
	}
	var answers dns.Msg
	s.srvRecords(&answers, q.Name, svc, ready, port, proto)
	if len(answers.Answer) == 0 {
		s.nxDomain(m)
		return
	}
	if q.Qtype == dns.TypeSRV || q.Qtype == dns.TypeANY {
		m.Answer = append(m.Answer, answers.Answer...)
		m.Extra = append(m.Extra, answers.Extra...)
		return
	}
	s.noData(m)
}

// srvRecords adds the SRV records of svc's named ports (only those matching
// port and proto when given), with the targets' A records as additional
// records, as CoreDNS does.
func (s *Server) srvRecords(m *dns.Msg, qname string, svc *v1.Service, ready []readyAddr, port, proto string) {
	svcName := svc.Name + "." + svc.Namespace + ".svc." + s.zone
	type target struct{ name, ip string }
	var targets []target
	if svc.Spec.ClusterIP == v1.ClusterIPNone {
		for _, a := range ready {
			targets = append(targets, target{a.host + "." + svcName, a.ip})
		}
	} else {
		targets = []target{{svcName, svc.Spec.ClusterIP}}
	}
	var records []dns.RR
	extra := map[string]dns.RR{}
	for _, p := range svc.Spec.Ports {
		if p.Name == "" {
			continue // only named ports have SRV records
		}
		if port != "" && (p.Name != port || !strings.EqualFold(string(p.Protocol), proto)) {
			continue
		}
		for _, t := range targets {
			number := p.Port
			if svc.Spec.ClusterIP == v1.ClusterIPNone {
				if ep, ok := readyPort(ready, t.ip, p.Name); ok {
					number = ep
				}
			}
			records = append(records, &dns.SRV{
				Hdr:    dns.RR_Header{Name: qname, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: s.ttl},
				Target: t.name, Port: uint16(number), Priority: 0,
			})
			extra[t.name] = s.a(t.name, t.ip)
		}
	}
	for _, r := range records {
		// Equal weights that add up to about 100, as CoreDNS gives them.
		r.(*dns.SRV).Weight = uint16(100 / len(records))
	}
	m.Answer = append(m.Answer, records...)
	for _, t := range targets {
		if rr, ok := extra[t.name]; ok {
			m.Extra = append(m.Extra, rr)
			delete(extra, t.name)
		}
	}
}

// answerReverse answers PTR queries for addresses of the service CIDR.
func (s *Server) answerReverse(m *dns.Msg, q dns.Question, name string) {
	ip := reverseIP(name)
	if ip == nil || s.cidr == nil || !s.cidr.Contains(ip) {
		m.Rcode = dns.RcodeRefused
		return
	}
	m.Authoritative = true
	svc, ok := s.src.ServiceByClusterIP(ip.String())
	if !ok {
		m.Rcode = dns.RcodeNameError
		return
	}
	if q.Qtype != dns.TypePTR && q.Qtype != dns.TypeANY {
		return
	}
	m.Answer = append(m.Answer, &dns.PTR{
		Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: s.ttl},
		Ptr: svc.Name + "." + svc.Namespace + ".svc." + s.zone,
	})
}

// reverseIP parses d.c.b.a.in-addr.arpa.; nil if it is not a full address.
func reverseIP(name string) net.IP {
	parts := strings.Split(strings.TrimSuffix(name, ".in-addr.arpa."), ".")
	if len(parts) != 4 {
		return nil
	}
	ip := make(net.IP, 4)
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 10, 8)
		if err != nil || (len(p) > 1 && p[0] == '0') {
			return nil
		}
		ip[3-i] = byte(v)
	}
	return ip
}

// readyAddr is one ready endpoint address of a Service, with its DNS host
// label (hostname, or the IP with dashes) and its ports.
type readyAddr struct {
	ip, host string
	ports    map[string]int32 // by port name
}

func (s *Server) readyAddresses(ns, name string) []readyAddr {
	ep, ok := s.src.GetEndpoints(ns, name)
	if !ok {
		return nil
	}
	var out []readyAddr
	for _, sub := range ep.Subsets {
		ports := map[string]int32{}
		for _, p := range sub.Ports {
			ports[p.Name] = p.Port
		}
		for _, a := range sub.Addresses {
			host := a.Hostname
			if host == "" {
				host = strings.ReplaceAll(a.IP, ".", "-")
			}
			out = append(out, readyAddr{ip: a.IP, host: host, ports: ports})
		}
	}
	return out
}

func readyPort(ready []readyAddr, ip, portName string) (int32, bool) {
	for _, a := range ready {
		if a.ip == ip {
			if p, ok := a.ports[portName]; ok {
				return p, true
			}
		}
	}
	return 0, false
}

func (s *Server) a(name, ip string) dns.RR {
	return &dns.A{
		Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: s.ttl},
		A:   net.ParseIP(ip).To4(),
	}
}

// soa is the zone's SOA record, as CoreDNS builds it for the kubernetes
// zone (its minimum, the negative-caching TTL, is the record TTL).
func (s *Server) soa() dns.RR {
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: s.zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: s.ttl},
		Ns:      "ns.dns." + s.zone,
		Mbox:    "hostmaster." + s.zone,
		Serial:  1,
		Refresh: 7200,
		Retry:   1800,
		Expire:  86400,
		Minttl:  s.ttl,
	}
}

// noData: the name exists, but not with that type.
func (s *Server) noData(m *dns.Msg) {
	m.Rcode = dns.RcodeSuccess
	m.Answer = nil
	m.Ns = append(m.Ns, s.soa())
}

func (s *Server) nxDomain(m *dns.Msg) {
	m.Rcode = dns.RcodeNameError
	m.Answer = nil
	m.Ns = append(m.Ns, s.soa())
}
