package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
)

// removeIPMasqRules deletes the NAT rules the bridge plugin made for one
// sandbox when ipMasq is on: a POSTROUTING jump to a per-sandbox CNI-… chain,
// and that chain. The bridge plugin removes them itself on DEL, but only when
// it can still read the pod's address inside the namespace; this covers DEL
// after the namespace is gone. The rules are found by the comment the plugin
// puts on them, `name: "<network>" id: "<container id>"`, so nothing else
// is touched. Finding nothing is success.
func removeIPMasqRules(ctx context.Context, cfg Config, containerID string) error {
	bin := "iptables"
	if _, subnet, err := net.ParseCIDR(cfg.Subnet); err == nil && subnet.IP.To4() == nil {
		bin = "ip6tables"
	}
	comment := fmt.Sprintf("name: %q id: %q", cfg.NetworkName, containerID)
	out, err := runIPTables(ctx, bin, "-t", "nat", "-S", "POSTROUTING")
	if err != nil {
		return err
	}
	var errs []error
	// One jump per pod address, all to the sandbox's one chain: remove the
	// jumps first, since a chain still referenced cannot be deleted.
	var chains []string
	for _, rule := range ipMasqRules(string(out), comment) {
		args := []string{"-t", "nat", "-D", "POSTROUTING", "-s", rule.source, "-j", rule.chain, "-m", "comment", "--comment", comment}
		if _, err := runIPTables(ctx, bin, args...); err != nil {
			errs = append(errs, err)
		}
		if !slices.Contains(chains, rule.chain) {
			chains = append(chains, rule.chain)
		}
	}
	for _, chain := range chains {
		if _, err := runIPTables(ctx, bin, "-t", "nat", "-F", chain); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := runIPTables(ctx, bin, "-t", "nat", "-X", chain); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

type ipMasqRule struct {
	source, chain string
}

// ipMasqRules parses `iptables -S POSTROUTING` output for rules carrying
// exactly comment and jumping to a CNI- chain.
func ipMasqRules(listing, comment string) []ipMasqRule {
	// iptables -S prints a comment with spaces as a double-quoted string
	// with inner quotes escaped, the way strconv.Quote writes it.
	quoted := "--comment " + strconv.Quote(comment)
	var rules []ipMasqRule
	for _, line := range strings.Split(listing, "\n") {
		if !strings.Contains(line, quoted+" ") && !strings.HasSuffix(line, quoted) {
			continue
		}
		f := strings.Fields(line)
		var r ipMasqRule
		for i := 0; i+1 < len(f); i++ {
			switch f[i] {
			case "-s":
				r.source = f[i+1]
			case "-j":
				r.chain = f[i+1]
			}
		}
		if r.source != "" && strings.HasPrefix(r.chain, "CNI-") {
			rules = append(rules, r)
		}
	}
	return rules
}

func runIPTables(ctx context.Context, bin string, args ...string) ([]byte, error) {
	// -w: wait for the xtables lock instead of failing while a plugin
	// holds it.
	cmd := exec.CommandContext(ctx, bin, append([]string{"-w"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", bin, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}
