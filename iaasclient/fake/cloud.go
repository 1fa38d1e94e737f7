// Package fake is an in-memory IaaS that implements iaasclient.API with the semantics
// of the wire contract (iaasclient/API.md and the comments in requests.go), for unit
// tests of the packages built on the client. It checks requests with the same rules
// and messages as the simulated IaaS (package iaasclient/validate). It has no tenancy:
// every caller owns everything. Test helpers add instances, change their state, inject
// errors and count calls per action.
package fake

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"time"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/validate"
)

var _ ic.API = (*Cloud)(nil)

// Ids of the VPC and route table every Cloud starts with, so tests need no setup for
// the common case of one cluster in one VPC.
const (
	DefaultVpcID        = "vpc-default"
	DefaultRouteTableID = "rtb-default"
	DefaultVpcCidr      = "10.0.0.0/16"
	DefaultRegion       = "region-1"
	DefaultZone         = "zone-a"
	DefaultRouteLimit   = 50
	DefaultMaxDisks     = 16
)

// DefaultQuotas are the tenant limits of a new Cloud.
var DefaultQuotas = map[string]int{
	"disks":                    500,
	"diskGiB":                  1 << 20,
	"snapshots":                500,
	"loadBalancers":            100,
	"listenersPerLoadBalancer": 50,
	"routesPerTable":           DefaultRouteLimit,
}

// Option configures a Cloud.
type Option func(*Cloud)

// WithTaskSteps makes every task stay RUNNING for n DescribeTask calls before it
// finishes (n = 0, the default, finishes tasks inside the call that starts them, with
// the intermediate states never visible). n < 0 keeps tasks RUNNING until
// CompleteTasks is called.
func WithTaskSteps(n int) Option { return func(c *Cloud) { c.taskSteps = n } }

// WithQuota sets one tenant limit (see iaasclient.Quota for the resource names).
func WithQuota(resource string, limit int) Option {
	return func(c *Cloud) { c.quotas[resource] = limit }
}

// WithRegion sets the region reported for instances added without one.
func WithRegion(region string) Option { return func(c *Cloud) { c.region = region } }

// WithZones restricts the zones a disk may be created in; without it any non-empty
// zone is accepted.
func WithZones(zones ...string) Option {
	return func(c *Cloud) {
		for _, z := range zones {
			c.zones[z] = true
		}
	}
}

// WithClock replaces time.Now for CreatedAt and FinishedAt fields.
func WithClock(now func() time.Time) Option { return func(c *Cloud) { c.now = now } }

// Hook runs at the start of every call, outside the Cloud's lock, after the call is
// counted and before injected errors are consumed. A non-nil error is returned to the
// caller as is. A hook may block (to test timeouts) and may call the Cloud.
type Hook func(ctx context.Context, action string, req any) error

// Cloud is the in-memory IaaS. The zero value is not usable; call New.
type Cloud struct {
	hookMu sync.RWMutex
	hook   Hook

	mu        sync.Mutex
	now       func() time.Time
	region    string
	zones     map[string]bool
	quotas    map[string]int
	taskSteps int
	seq       int
	ipSeq     int

	instances   map[string]*ic.Instance
	vpcs        map[string]*ic.Vpc
	routeTables map[string]*ic.RouteTable
	lbs         map[string]*ic.LoadBalancer
	certs       map[string]*cert
	disks       map[string]*ic.Disk
	snapshots   map[string]*ic.Snapshot
	tasks       map[string]*task
	taskOrder   []string
	tokens      map[string]tokenEntry
	identity    string

	calls      map[string]int
	faults     map[string][]error
	taskFaults map[string][]*ic.Error
	vipsUsed   map[string]bool
}

// task is an async task and the work it does when it ends.
type task struct {
	ic.Task
	remaining int
	// finish applies the effect; fail undoes the intermediate state when the task ends
	// FAILED. Either may be nil.
	finish func()
	fail   func()
	// injected is the error the task ends with instead of finishing.
	injected *ic.Error
}

type tokenEntry struct {
	fingerprint string
	response    any
}

// New returns an empty Cloud with one VPC (DefaultVpcID) and its route table
// (DefaultRouteTableID).
func New(opts ...Option) *Cloud {
	c := &Cloud{
		now:         time.Now,
		region:      DefaultRegion,
		zones:       map[string]bool{},
		quotas:      map[string]int{},
		instances:   map[string]*ic.Instance{},
		vpcs:        map[string]*ic.Vpc{},
		routeTables: map[string]*ic.RouteTable{},
		lbs:         map[string]*ic.LoadBalancer{},
		certs:       map[string]*cert{},
		disks:       map[string]*ic.Disk{},
		snapshots:   map[string]*ic.Snapshot{},
		tasks:       map[string]*task{},
		tokens:      map[string]tokenEntry{},
		calls:       map[string]int{},
		faults:      map[string][]error{},
		taskFaults:  map[string][]*ic.Error{},
		vipsUsed:    map[string]bool{},
	}
	for k, v := range DefaultQuotas {
		c.quotas[k] = v
	}
	for _, o := range opts {
		o(c)
	}
	c.vpcs[DefaultVpcID] = &ic.Vpc{VpcID: DefaultVpcID, Name: "default", CidrBlock: DefaultVpcCidr, Region: c.region}
	c.routeTables[DefaultRouteTableID] = &ic.RouteTable{
		RouteTableID: DefaultRouteTableID, VpcID: DefaultVpcID, Name: "default",
		Routes: []ic.Route{}, RouteLimit: c.quotas["routesPerTable"],
	}
	return c
}

// SetHook installs (or with nil removes) the hook run at the start of every call.
func (c *Cloud) SetHook(h Hook) {
	c.hookMu.Lock()
	c.hook = h
	c.hookMu.Unlock()
}

// InjectError makes the next n calls of action fail with err (an *iaasclient.Error
// for API errors, or anything else to imitate a transport failure).
func (c *Cloud) InjectError(action string, err error, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for range n {
		c.faults[action] = append(c.faults[action], err)
	}
}

// FailNextTask makes the next task started by action end FAILED with err; the call
// that starts it still succeeds, as on a real cloud.
func (c *Cloud) FailNextTask(action string, err *ic.Error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.taskFaults[action] = append(c.taskFaults[action], err)
}

// ClearFaults drops every injected error and task failure not yet consumed.
func (c *Cloud) ClearFaults() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = map[string][]error{}
	c.taskFaults = map[string][]*ic.Error{}
}

// Calls returns how many times action was called (injected failures included).
func (c *Cloud) Calls(action string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[action]
}

// AllCalls returns a copy of the call counters of every action called so far.
func (c *Cloud) AllCalls() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.calls))
	for k, v := range c.calls {
		out[k] = v
	}
	return out
}

// ResetCalls sets every call counter to zero.
func (c *Cloud) ResetCalls() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = map[string]int{}
}

// enter counts a call and returns the error it must fail with, if any: ctx done, a
// hook's answer, an injected fault, or a nil request.
func (c *Cloud) enter(ctx context.Context, action string, req any, reqIsNil bool) error {
	c.mu.Lock()
	c.calls[action]++
	c.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	c.hookMu.RLock()
	h := c.hook
	c.hookMu.RUnlock()
	if h != nil {
		if err := h(ctx, action, req); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if q := c.faults[action]; len(q) > 0 {
		c.faults[action] = q[1:]
		return q[0]
	}
	if reqIsNil {
		return ic.Errorf(ic.CodeInvalidParameter, "request: must not be null")
	}
	return nil
}

// newID makes ids that sort in creation order, which keeps pagination tests readable.
func (c *Cloud) newID(prefix string) string {
	c.seq++
	return fmt.Sprintf("%s-%08x", prefix, c.seq)
}

func (c *Cloud) requestID() string {
	c.seq++
	return fmt.Sprintf("req-%08x", c.seq)
}

// meta returns the ResponseMeta of a successful call.
func (c *Cloud) meta() ic.ResponseMeta { return ic.ResponseMeta{RequestID: c.requestID()} }

// fail stamps an error with a request id, as the server does.
func (c *Cloud) fail(e *ic.Error) error {
	e.RequestID = c.requestID()
	return e
}

func (c *Cloud) failf(code ic.Code, format string, args ...any) error {
	return c.fail(ic.Errorf(code, format, args...))
}

// clone deep-copies through JSON so that callers never share memory with the store;
// the types are JSON by contract, so nothing is lost.
func clone[T any](v T) T {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("fake: cloning %T: %v", v, err))
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		panic(fmt.Sprintf("fake: cloning %T: %v", v, err))
	}
	return out
}

// replay answers a repeated create from the record of the first one, with a request id
// of its own as the server gives. fp is the request with its token cleared. done is
// false when the token is new (or empty) and the create must run; otherwise the call
// returns (resp, err): the first answer, or IdempotentParameterMismatch.
func replay[Resp any](c *Cloud, action, token string, fp any) (resp *Resp, done bool, err error) {
	if token == "" {
		return nil, false, nil
	}
	if err := validate.ClientToken(token); err != nil {
		return nil, true, c.fail(err)
	}
	e, ok := c.tokens[action+"\x00"+token]
	if !ok {
		return nil, false, nil
	}
	if e.fingerprint != fingerprint(fp) {
		return nil, true, c.fail(validate.TokenMismatch(token))
	}
	r := clone(*e.response.(*Resp))
	if f := reflect.ValueOf(&r).Elem().FieldByName("RequestID"); f.CanSet() {
		f.SetString(c.requestID())
	}
	return &r, true, nil
}

func (c *Cloud) recordToken(action, token string, req, resp any) {
	if token == "" {
		return
	}
	c.tokens[action+"\x00"+token] = tokenEntry{fingerprint: fingerprint(req), response: resp}
}

// fingerprint is the canonical JSON of a request; the callers blank the token first.
func fingerprint(req any) string {
	b, _ := json.Marshal(req)
	return string(b)
}

// check stamps a refusal of the contract's rules (package validate) with a request id,
// as the server does; nil stays a nil error.
func (c *Cloud) check(err *ic.Error) error {
	if err == nil {
		return nil
	}
	return c.fail(err)
}

// describe returns copies of the page of the objects of m that keep accepts (see
// validate.Select) and how many it accepts in all.
func describe[T any](m map[string]*T, keep func(*T) bool, offset, limit int) ([]T, int) {
	sel, total := validate.Select(m, keep, offset, limit)
	page := make([]T, len(sel))
	for i, v := range sel {
		page[i] = clone(*v)
	}
	return page, total
}
