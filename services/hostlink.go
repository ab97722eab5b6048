package services

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// HostLink is the interface the agent owns to hold the ClusterIPs and the
// cluster DNS address as local /32 addresses, like kube-proxy's IPVS mode
// holds its ClusterIPs on kube-ipvs0. Being local, the DNS address reaches
// the agent's DNS server, and the node's own connections to a ClusterIP
// have a route (the service CIDR's unreachable route would otherwise fail
// them before the nat output hook could DNAT them).
//
// It is a dummy interface; on kernels built without dummy support it falls
// back to an empty bridge, which behaves the same for local addresses.
type HostLink struct {
	Name string
}

// Ensure creates the interface if it is missing and brings it up.
func (h HostLink) Ensure() error {
	link, err := netlink.LinkByName(h.Name)
	if err != nil {
		var notFound netlink.LinkNotFoundError
		if !errors.As(err, &notFound) {
			return fmt.Errorf("look up interface %s: %w", h.Name, err)
		}
		attrs := netlink.NewLinkAttrs()
		attrs.Name = h.Name
		err = netlink.LinkAdd(&netlink.Dummy{LinkAttrs: attrs})
		if errors.Is(err, unix.EOPNOTSUPP) {
			err = netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs})
		}
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("create interface %s: %w", h.Name, err)
		}
		if link, err = netlink.LinkByName(h.Name); err != nil {
			return fmt.Errorf("look up interface %s: %w", h.Name, err)
		}
	}
	if err := ours(link); err != nil {
		return err
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("bring up interface %s: %w", h.Name, err)
	}
	return nil
}

// SetAddresses makes the interface's IPv4 addresses exactly ips, each a /32.
func (h HostLink) SetAddresses(ips []string) error {
	link, err := netlink.LinkByName(h.Name)
	if err != nil {
		return fmt.Errorf("look up interface %s: %w", h.Name, err)
	}
	have, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("list addresses of %s: %w", h.Name, err)
	}
	want := map[string]bool{}
	for _, ip := range ips {
		want[ip] = true
	}
	var errs []error
	for _, a := range have {
		ones, _ := a.Mask.Size()
		if want[a.IP.String()] && ones == 32 {
			delete(want, a.IP.String())
			continue
		}
		if err := netlink.AddrDel(link, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			errs = append(errs, fmt.Errorf("remove %s from %s: %w", a.IPNet, h.Name, err))
		}
	}
	for _, ip := range ips {
		if !want[ip] {
			continue
		}
		parsed := net.ParseIP(ip).To4()
		if parsed == nil {
			errs = append(errs, fmt.Errorf("address %q for %s is not IPv4", ip, h.Name))
			continue
		}
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: parsed, Mask: net.CIDRMask(32, 32)}}
		if err := netlink.AddrAdd(link, addr); err != nil && !errors.Is(err, unix.EEXIST) {
			errs = append(errs, fmt.Errorf("add %s/32 to %s: %w", ip, h.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Delete removes the interface (and so its addresses); a missing one is
// not an error.
func (h HostLink) Delete() error {
	link, err := netlink.LinkByName(h.Name)
	if err != nil {
		var notFound netlink.LinkNotFoundError
		if errors.As(err, &notFound) {
			return nil
		}
		return fmt.Errorf("look up interface %s: %w", h.Name, err)
	}
	if err := ours(link); err != nil {
		return err
	}
	if err := netlink.LinkDel(link); err != nil {
		return fmt.Errorf("delete interface %s: %w", h.Name, err)
	}
	return nil
}

// ours refuses an interface that cannot be the agent's: anything but a
// dummy, or a bridge with ports (a pod bridge given the same name by
// mistake must never be taken over or deleted).
func ours(link netlink.Link) error {
	name := link.Attrs().Name
	switch link.Type() {
	case "dummy":
		return nil
	case "bridge":
		links, err := netlink.LinkList()
		if err != nil {
			return fmt.Errorf("list interfaces: %w", err)
		}
		for _, l := range links {
			if l.Attrs().MasterIndex == link.Attrs().Index {
				return fmt.Errorf("interface %s is a bridge with ports (%s), not the agent's address interface: left alone", name, l.Attrs().Name)
			}
		}
		return nil
	}
	return fmt.Errorf("interface %s is a %s, not the agent's address interface: left alone", name, link.Type())
}
