package hostfw

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/kube-iaas/kube-iaas/test/testutil"
)

// testBridge is a name no link has (the rules match interface names, not links).
func testBridge(tag string) string { return fmt.Sprintf("khf%d%s", os.Getpid()%1000000, tag) }

func ruleLines(t *testing.T, bridge string) []string {
	t.Helper()
	var out []string
	for _, chain := range []string{DockerUserChain, "FORWARD"} {
		s, err := run("-t", "filter", "-S", chain)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(s, "\n") {
			if strings.Contains(l, CommentPrefix+bridge) {
				out = append(out, l)
			}
		}
	}
	return out
}

func TestAcceptReleaseRemove(t *testing.T) {
	testutil.RequireRoot(t)
	if iptablesPath() == "" {
		// Without iptables nothing can have set a DROP policy through it: a no-op.
		rel, err := Accept(testBridge("n"))
		if err != nil || rel() != nil {
			t.Fatalf("Accept without iptables: %v", err)
		}
		t.Skip("no iptables on this host; checked that Accept is a no-op")
	}
	br := testBridge("a")
	t.Cleanup(func() { Remove(br) })

	rel1, err := Accept(br)
	if err != nil {
		t.Fatal(err)
	}
	rel2, err := Accept(br) // a second user: no second copy of the rules
	if err != nil {
		t.Fatal(err)
	}
	lines := ruleLines(t, br)
	if len(lines) != 2 {
		t.Fatalf("want 2 rules for %s, got %q", br, lines)
	}
	chain := "FORWARD"
	if chainExists(DockerUserChain) {
		chain = DockerUserChain
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "-A "+chain+" ") || !strings.HasSuffix(l, "-j ACCEPT") {
			t.Errorf("rule %q: want an ACCEPT in %s", l, chain)
		}
	}
	// On top of the chain, so no rule before them can drop the bridge's traffic.
	s, _ := run("-t", "filter", "-S", chain)
	var rules []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "-A ") {
			rules = append(rules, l)
		}
	}
	if len(rules) < 2 || !strings.Contains(rules[0], "-i "+br) || !strings.Contains(rules[1], "-o "+br) {
		t.Errorf("rules of %s are not the first two of %s: %q", br, chain, rules)
	}
	if !slices.Contains(Bridges(), br) {
		t.Errorf("Bridges() = %v, want %s in it", Bridges(), br)
	}

	if err := rel1(); err != nil {
		t.Fatal(err)
	}
	if err := rel1(); err != nil { // twice: harmless, does not drop rel2's reference
		t.Fatal(err)
	}
	if got := ruleLines(t, br); len(got) != 2 {
		t.Fatalf("after the first of two releases the rules must stay, got %q", got)
	}
	if err := rel2(); err != nil {
		t.Fatal(err)
	}
	if got := ruleLines(t, br); len(got) != 0 {
		t.Fatalf("after the last release: %q", got)
	}

	// Remove wins over references; SweepStale drops rules of a bridge that does not exist.
	if _, err := Accept(br); err != nil {
		t.Fatal(err)
	}
	if err := Remove(br); err != nil {
		t.Fatal(err)
	}
	if got := ruleLines(t, br); len(got) != 0 {
		t.Fatalf("after Remove: %q", got)
	}
	br2 := testBridge("s")
	t.Cleanup(func() { Remove(br2) })
	if _, err := Accept(br2); err != nil {
		t.Fatal(err)
	}
	SweepStale()
	if got := ruleLines(t, br2); len(got) != 0 {
		t.Fatalf("SweepStale left %q", got)
	}
}

// Without the iptables command everything is a no-op (no root needed: nothing runs).
func TestNoIptablesIsNoop(t *testing.T) {
	saved := iptablesPath
	iptablesPath = func() string { return "" }
	t.Cleanup(func() { iptablesPath = saved })
	if Enabled() {
		t.Fatal("Enabled without iptables")
	}
	rel, err := Accept("kbnoop0")
	if err != nil {
		t.Fatal(err)
	}
	if err := rel(); err != nil {
		t.Fatal(err)
	}
	if err := Remove("kbnoop0"); err != nil {
		t.Fatal(err)
	}
	if b := Bridges(); b != nil {
		t.Fatalf("Bridges() = %v", b)
	}
	SweepStale()
	if _, err := Accept(""); err == nil {
		t.Fatal("Accept of an empty bridge name must fail")
	}
}
