package dptest

import (
	"os"
	"regexp"
	"strconv"
	"sync"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"k8s.io/klog/v2"

	"github.com/kube-iaas/kube-iaas/test/iaassim/dataplane/hostfw"
)

var sweepOnce sync.Once

var (
	staleNS     = regexp.MustCompile(`^kitest-(\d+)-`)
	staleBridge = regexp.MustCompile(`^kb(\d+)[a-z]`)
)

func alive(pid string) bool {
	n, err := strconv.Atoi(pid)
	if err != nil || n <= 0 {
		return true // not ours to judge
	}
	_, err = os.Stat("/proc/" + pid)
	return err == nil
}

// sweepStale removes namespaces and bridges left by test processes that died before
// their clean-up ran (a killed `go test`), so that reruns start clean. Only names of
// processes that no longer exist are touched.
func sweepStale() {
	sweepOnce.Do(func() {
		if ents, err := os.ReadDir("/run/netns"); err == nil {
			for _, e := range ents {
				if m := staleNS.FindStringSubmatch(e.Name()); m != nil && !alive(m[1]) {
					if err := vnetns.DeleteNamed(e.Name()); err == nil {
						klog.InfoS("Removed a namespace of a dead test process", "netns", e.Name())
					}
				}
			}
		}
		links, _ := netlink.LinkList()
		for _, l := range links {
			if _, ok := l.(*netlink.Bridge); !ok {
				continue
			}
			if m := staleBridge.FindStringSubmatch(l.Attrs().Name); m != nil && !alive(m[1]) {
				if err := netlink.LinkDel(l); err == nil {
					klog.InfoS("Removed a bridge of a dead test process", "bridge", l.Attrs().Name)
				}
			}
		}
		// iptables accept rules of bridges that are gone (ours and any other).
		hostfw.SweepStale()
	})
}
