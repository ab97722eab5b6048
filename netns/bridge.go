package netns

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
)

// CheckBridge refuses, with the reason and the fix, an existing interface
// named like the pod bridge that the bridge plugin cannot use: one that is
// not a bridge, or a bridge holding another IPv4 address than the pods'
// gateway (a bridge left by an earlier agent with another pod CIDR). The
// plugin would fail every sandbox on it, and the pod workers would retry
// forever. A missing bridge is fine: the plugin creates it. The agent
// checks at start; NewNetwork does not, so that cleanup can still remove
// such a bridge.
func CheckBridge(name, podCIDR string) error {
	_, subnet, err := net.ParseCIDR(podCIDR)
	if err != nil {
		return fmt.Errorf("pod CIDR %q: %w", podCIDR, err)
	}
	if subnet.IP.To4() == nil {
		return nil // only IPv4 pod networks are set up
	}
	link, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("look up bridge %s: %w", name, err)
	}
	if _, ok := link.(*netlink.Bridge); !ok {
		return fmt.Errorf("interface %s exists and is a %s, not a bridge: choose another --bridge", name, link.Type())
	}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("list the addresses of bridge %s: %w", name, err)
	}
	var nets []net.IPNet
	for _, a := range addrs {
		nets = append(nets, *a.IPNet)
	}
	return bridgeAddrsFit(name, nets, subnet)
}

// bridgeAddrsFit reports an error unless every IPv4 address of the bridge
// is the gateway of subnet (its first address, with its prefix): the CNI
// bridge plugin refuses a bridge with any other.
func bridgeAddrsFit(name string, addrs []net.IPNet, subnet *net.IPNet) error {
	gw := gatewayOf(subnet)
	for _, a := range addrs {
		if a.IP.To4() == nil || a.String() == gw.String() {
			continue
		}
		return fmt.Errorf("bridge %s has address %s, not %s, the gateway of pod CIDR %s (left by an earlier agent with another pod CIDR?): "+
			"delete it (minikubelet cleanup, or ip link delete %s) or choose another --bridge or --pod-cidr", name, a.String(), gw.String(), subnet, name)
	}
	return nil
}

// gatewayOf is host-local's default gateway: the subnet's first address.
func gatewayOf(subnet *net.IPNet) net.IPNet {
	ip := make(net.IP, len(subnet.IP.To4()))
	copy(ip, subnet.IP.To4())
	for i := len(ip) - 1; i >= 0; i-- {
		ip[i]++
		if ip[i] != 0 {
			break
		}
	}
	return net.IPNet{IP: ip, Mask: subnet.Mask}
}
