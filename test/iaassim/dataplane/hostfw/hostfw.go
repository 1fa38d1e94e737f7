// Package hostfw keeps the host's iptables filter FORWARD chain from dropping the
// traffic the simulated IaaS forwards on its bridge: load-balancer flows DNATed from a
// VIP to a backend, pod-CIDR routes between instances, and, where br_netfilter is on
// with bridge-nf-call-iptables=1, even the L2 traffic between two instances of the
// bridge (bridged IPv4 frames then traverse the IP FORWARD hook, with the bridge as both
// input and output device).
//
// Why: starting dockerd sets the FORWARD policy to DROP. That policy outlives dockerd
// (with iptables-nft it is a base chain of `table ip filter` that nobody removes), so a
// machine that ever ran Docker drops everything our data plane forwards. Every base
// chain of a netfilter hook must accept a packet, so an accept in our own nftables
// table does not help: the rules have to be in the chain that drops.
//
// What: for a bridge, two rules `-i <bridge> -j ACCEPT` and `-o <bridge> -j ACCEPT`, each
// tagged with the comment "kube-iaas:<bridge>", inserted at the top of DOCKER-USER when
// that chain exists (Docker jumps to it first and never flushes it), else at the top of
// FORWARD. Inserting is idempotent (checked with -C). Nothing is done when the iptables
// command is missing or the filter table has no FORWARD chain (nothing can drop then).
// The rules are IPv4 only, like the data plane.
//
// Lifetime: Accept counts its callers per bridge in this process; the release it returns
// removes the rules when the last user of the bridge is gone (tests' teardown). Remove
// drops them at once (the bridge is deleted). A simulator that exits without teardown
// keeps them, as it keeps its VIPs and routes. SweepStale removes rules whose bridge no
// longer exists (left by killed processes).
package hostfw

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"k8s.io/klog/v2"
)

// CommentPrefix tags every rule this package inserts; the bridge name follows it.
const CommentPrefix = "kube-iaas:"

// DockerUserChain is the chain Docker reserves for its users' rules.
const DockerUserChain = "DOCKER-USER"

var (
	mu    sync.Mutex
	users = map[string]int{}
)

// iptablesPath is the iptables command, "" when absent. A variable for tests.
var iptablesPath = func() string {
	p, err := exec.LookPath("iptables")
	if err != nil {
		return ""
	}
	return p
}

func run(args ...string) (string, error) {
	path := iptablesPath()
	if path == "" {
		return "", exec.ErrNotFound
	}
	var out []byte
	var err error
	// -w waits for the xtables lock (iptables-legacy); iptables-nft may still report a
	// transient failure when several processes change the table at once: retry.
	for attempt := 0; attempt < 5; attempt++ {
		cmd := exec.Command(path, append([]string{"-w", "5"}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err = cmd.Output()
		if err == nil {
			return string(out), nil
		}
		err = fmt.Errorf("iptables %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		if !strings.Contains(stderr.String(), "emporarily") && !strings.Contains(stderr.String(), "lock") {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 50 * time.Millisecond)
	}
	return string(out), err
}

// chainExists reports whether the filter table holds chain.
func chainExists(chain string) bool {
	_, err := run("-t", "filter", "-S", chain)
	return err == nil
}

func specs(bridge string) [][]string {
	c := []string{"-m", "comment", "--comment", CommentPrefix + bridge, "-j", "ACCEPT"}
	return [][]string{
		append([]string{"-i", bridge}, c...),
		append([]string{"-o", bridge}, c...),
	}
}

// Enabled reports whether this host has iptables and a filter FORWARD chain, that is
// whether Accept inserts rules.
func Enabled() bool {
	return iptablesPath() != "" && chainExists("FORWARD")
}

// ensure inserts the rules of bridge where they belong; a no-op without iptables or
// without a filter FORWARD chain.
func ensure(bridge string) error {
	if !Enabled() {
		return nil
	}
	chain := "FORWARD"
	if chainExists(DockerUserChain) {
		chain = DockerUserChain
	}
	// Inserted at position 1 in reverse order, so they end up in spec order on top.
	ss := specs(bridge)
	for i := len(ss) - 1; i >= 0; i-- {
		s := ss[i]
		if _, err := run(append([]string{"-t", "filter", "-C", chain}, s...)...); err == nil {
			continue
		}
		if _, err := run(append([]string{"-t", "filter", "-I", chain, "1"}, s...)...); err != nil {
			return fmt.Errorf("hostfw: accept forwarding on %s: %w", bridge, err)
		}
	}
	klog.V(2).InfoS("Accepting forwarded traffic of the bridge in iptables", "bridge", bridge, "chain", chain)
	return nil
}

// Accept makes the filter FORWARD chain accept traffic in and out of bridge (see the
// package comment). The returned release undoes it once every Accept of this bridge in
// this process has been released; calling it more than once is harmless.
func Accept(bridge string) (release func() error, err error) {
	if bridge == "" {
		return nil, errors.New("hostfw: a bridge is required")
	}
	mu.Lock()
	defer mu.Unlock()
	if err := ensure(bridge); err != nil {
		return nil, err
	}
	users[bridge]++
	var once sync.Once
	return func() error {
		var err error
		once.Do(func() {
			mu.Lock()
			defer mu.Unlock()
			if users[bridge] == 0 {
				return // Remove ran meanwhile
			}
			users[bridge]--
			if users[bridge] == 0 {
				delete(users, bridge)
				err = removeLocked(bridge)
			}
		})
		return err
	}, nil
}

// Remove deletes the rules of bridge whoever inserted them (the bridge is gone).
func Remove(bridge string) error {
	mu.Lock()
	defer mu.Unlock()
	delete(users, bridge)
	return removeLocked(bridge)
}

func removeLocked(bridge string) error {
	if iptablesPath() == "" {
		return nil
	}
	var errs []error
	for _, chain := range []string{DockerUserChain, "FORWARD"} {
		if !chainExists(chain) {
			continue
		}
		for _, s := range specs(bridge) {
			// -D removes one copy; a rule inserted twice (two racing processes) needs two.
			for i := 0; i < 16; i++ {
				if _, err := run(append([]string{"-t", "filter", "-C", chain}, s...)...); err != nil {
					break
				}
				if _, err := run(append([]string{"-t", "filter", "-D", chain}, s...)...); err != nil {
					errs = append(errs, fmt.Errorf("hostfw: %w", err))
					break
				}
			}
		}
	}
	return errors.Join(errs...)
}

var tagRE = regexp.MustCompile(`--comment "?` + regexp.QuoteMeta(CommentPrefix) + `([^" ]+)"?`)

// Bridges lists the bridges that have rules of this package in DOCKER-USER or FORWARD.
func Bridges() []string {
	if iptablesPath() == "" {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, chain := range []string{DockerUserChain, "FORWARD"} {
		s, err := run("-t", "filter", "-S", chain)
		if err != nil {
			continue
		}
		for _, m := range tagRE.FindAllStringSubmatch(s, -1) {
			if !seen[m[1]] {
				seen[m[1]] = true
				out = append(out, m[1])
			}
		}
	}
	return out
}

// SweepStale removes the rules of bridges that no longer exist.
func SweepStale() {
	for _, br := range Bridges() {
		if _, err := netlink.LinkByName(br); err == nil {
			continue
		}
		if err := Remove(br); err == nil {
			klog.InfoS("Removed iptables accept rules of a bridge that no longer exists", "bridge", br)
		}
	}
}
