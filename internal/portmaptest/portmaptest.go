// Package portmaptest holds what integration tests that publish hostPorts
// share: the portmap plugin leaves host-wide chains behind.
package portmaptest

import (
	"os/exec"
	"strings"
	"testing"
)

// CleanupChains removes, when the test ends, the host-wide chains the
// portmap plugin creates on its first use and never deletes, provided this
// test created them and no hostPort of anyone is left in them.
func CleanupChains(t *testing.T) {
	t.Helper()
	if chainExists("CNI-HOSTPORT-DNAT") {
		return // someone else's; leave them
	}
	t.Cleanup(func() {
		out, err := exec.Command("iptables", "-w", "-t", "nat", "-S", "CNI-HOSTPORT-DNAT").Output()
		if err != nil {
			return
		}
		if strings.Count(string(out), "\n") > 1 {
			t.Logf("CNI-HOSTPORT-DNAT is in use, leaving portmap's chains:\n%s", out)
			return
		}
		ipt := func(args ...string) {
			_ = exec.Command("iptables", append([]string{"-w", "-t", "nat"}, args...)...).Run()
		}
		ipt("-D", "PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "CNI-HOSTPORT-DNAT")
		ipt("-D", "OUTPUT", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "CNI-HOSTPORT-DNAT")
		ipt("-D", "POSTROUTING", "-m", "comment", "--comment", "CNI portfwd requiring masquerade", "-j", "CNI-HOSTPORT-MASQ")
		for _, c := range []string{"CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-MASQ", "CNI-HOSTPORT-SETMARK"} {
			ipt("-F", c)
			ipt("-X", c)
		}
	})
}

func chainExists(chain string) bool {
	return exec.Command("iptables", "-w", "-t", "nat", "-S", chain).Run() == nil
}
