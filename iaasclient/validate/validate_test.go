package validate_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/validate"
)

func TestErrorsNameTheField(t *testing.T) {
	l := func(mod func(*iaasclient.ListenerSpec)) *iaasclient.ListenerSpec {
		s := iaasclient.ListenerSpec{Protocol: iaasclient.ProtocolTCP, Port: 80, Backends: []iaasclient.Backend{{IP: "10.0.0.1", Port: 30080}}}
		mod(&s)
		return &s
	}
	for _, tc := range []struct {
		err  *iaasclient.Error
		code iaasclient.Code
		want string
	}{
		{validate.RouteSpecs([]iaasclient.RouteSpec{{DestinationCidr: "10.0.0.0/24", NextHopInstanceID: "i"}, {DestinationCidr: "10.0.1.5/24", NextHopInstanceID: "i"}}, nil, 5),
			iaasclient.CodeInvalidParameter, "routes[1].destinationCidr: "},
		{validate.RouteSpecs([]iaasclient.RouteSpec{{DestinationCidr: "10.0.0.0/24", NextHopInstanceID: "i"}}, []string{"10.0.0.0/16"}, 5),
			iaasclient.CodeResourceInUse, "routes[0].destinationCidr: "},
		{validate.RouteSpecs([]iaasclient.RouteSpec{{DestinationCidr: "10.0.0.0/24", NextHopInstanceID: "i"}}, []string{"10.1.0.0/16"}, 1),
			iaasclient.CodeLimitExceeded, "routes: "},
		{validate.Listener("listeners[2]", l(func(s *iaasclient.ListenerSpec) { s.Backends[0].Port = 0 })),
			iaasclient.CodeInvalidParameter, "listeners[2].backends[0].port: "},
		{validate.Listener("listener", l(func(s *iaasclient.ListenerSpec) { s.SourceRanges = []string{"x"} })),
			iaasclient.CodeInvalidParameter, "listener.sourceRanges[0]: "},
		{validate.Listeners("listeners", []iaasclient.ListenerSpec{*l(func(*iaasclient.ListenerSpec) {})},
			[]iaasclient.Listener{{ListenerID: "lsn-1", ListenerSpec: *l(func(*iaasclient.ListenerSpec) {})}}),
			iaasclient.CodeResourceInUse, "listeners[0]: TCP/80 is already used by listener lsn-1"},
		{validate.ListenerUpdate("listener", l(func(*iaasclient.ListenerSpec) {}),
			[]iaasclient.Listener{{ListenerID: "lsn-1", ListenerSpec: *l(func(*iaasclient.ListenerSpec) {})}}, "lsn-1"), "", ""},
		{validate.Tags("tags", map[string]string{"": "v"}), iaasclient.CodeInvalidParameter, `tags[""]: `},
		{validate.DiskSize("sizeGiB", iaasclient.DiskTypeBasic, 16385), iaasclient.CodeInvalidParameter, "sizeGiB: must be 1-16384 GiB"},
		{validate.Invalid("", "x"), iaasclient.CodeInvalidParameter, "body: x"},
	} {
		if tc.want == "" {
			if tc.err != nil {
				t.Errorf("unexpected %v", tc.err)
			}
			continue
		}
		if tc.err == nil || tc.err.Code != tc.code || !strings.HasPrefix(tc.err.Message, tc.want) {
			t.Errorf("got %v, want %s %q...", tc.err, tc.code, tc.want)
		}
	}
}

func TestAllocateVIP(t *testing.T) {
	pool := netip.MustParsePrefix("10.0.255.0/30") // .0 network, .1 gateway, .2 host, .3 broadcast
	if v, err := validate.AllocateVIP(pool, "", nil); err != nil || v != "10.0.255.2" {
		t.Fatalf("first: %q %v", v, err)
	}
	if _, err := validate.AllocateVIP(pool, "", []string{"10.0.255.2"}); err == nil || err.Code != iaasclient.CodeLimitExceeded {
		t.Fatalf("exhausted: %v", err)
	}
	if _, err := validate.AllocateVIP(pool, "10.0.255.2", []string{"10.0.255.2"}); err == nil || err.Code != iaasclient.CodeResourceInUse {
		t.Fatalf("taken: %v", err)
	}
	if _, err := validate.AllocateVIP(pool, "10.0.0.9", nil); err == nil || err.Code != iaasclient.CodeInvalidParameter {
		t.Fatalf("outside: %v", err)
	}
}

func TestSelectPages(t *testing.T) {
	m := map[string]*int{}
	for i := range 7 {
		v := i
		m[string(rune('a'+i))] = &v
	}
	even := func(v *int) bool { return *v%2 == 0 } // a c e g
	page, total := validate.Select(m, even, 1, 2)
	if total != 4 || len(page) != 2 || *page[0] != 2 || *page[1] != 4 {
		t.Fatalf("page %v total %d", page, total)
	}
	if page, total := validate.Select(m, even, 9, 2); total != 4 || len(page) != 0 {
		t.Fatalf("past the end: %v %d", page, total)
	}
	if _, _, err := validate.Page(iaasclient.Page{Limit: iaasclient.MaxPageSize + 1}); err == nil || !strings.HasPrefix(err.Message, "limit: ") {
		t.Fatalf("limit: %v", err)
	}
}
