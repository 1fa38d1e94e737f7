package iaassim

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the Prometheus series and the same counts as JSON for benchmarks.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	faults   *prometheus.CounterVec
	tasks    *prometheus.CounterVec
	// addressConflicts counts addresses claimed twice (addrowner.go).
	addressConflicts prometheus.Gauge

	mu       sync.Mutex
	counters map[string]*ActionCounters
	taskDone map[string]map[string]int64
}

// ActionCounters are the counts of one action since start or the last reset.
type ActionCounters struct {
	Requests int64            `json:"requests"`
	Codes    map[string]int64 `json:"codes"`
	Faults   map[string]int64 `json:"faults,omitempty"`
	Seconds  float64          `json:"seconds"`
}

// Counters is the answer of GET /admin/v1/counters.
type Counters struct {
	Actions map[string]*ActionCounters  `json:"actions"`
	Tasks   map[string]map[string]int64 `json:"tasks"`
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "iaas_sim_requests_total", Help: "API requests by action and result code (OK on success).",
		}, []string{"action", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "iaas_sim_request_duration_seconds", Help: "API request latency by action.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"action"}),
		faults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "iaas_sim_faults_injected_total", Help: "Injected faults by action and kind (error, throttle, latency, timeout).",
		}, []string{"action", "kind"}),
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "iaas_sim_tasks_total", Help: "Finished async tasks by action and final state.",
		}, []string{"action", "state"}),
		addressConflicts: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "iaas_sim_address_conflicts", Help: "Pairs of claims (admin CIDRs, instance addresses) that cover one address; requests from such an address are refused for every tenant.",
		}),
		counters: map[string]*ActionCounters{},
		taskDone: map[string]map[string]int64{},
	}
	m.reg.MustRegister(m.requests, m.duration, m.faults, m.tasks, m.addressConflicts,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) entry(action string) *ActionCounters {
	c := m.counters[action]
	if c == nil {
		c = &ActionCounters{Codes: map[string]int64{}, Faults: map[string]int64{}}
		m.counters[action] = c
	}
	return c
}

func (m *metrics) observe(action, code string, d time.Duration) {
	m.requests.WithLabelValues(action, code).Inc()
	m.duration.WithLabelValues(action).Observe(d.Seconds())
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.entry(action)
	c.Requests++
	c.Codes[code]++
	c.Seconds += d.Seconds()
}

func (m *metrics) fault(action, kind string) {
	m.faults.WithLabelValues(action, kind).Inc()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entry(action).Faults[kind]++
}

func (m *metrics) task(action, state string) {
	m.tasks.WithLabelValues(action, state).Inc()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.taskDone[action] == nil {
		m.taskDone[action] = map[string]int64{}
	}
	m.taskDone[action][state]++
}

// snapshot copies the JSON counters.
func (m *metrics) snapshot() Counters {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := Counters{Actions: map[string]*ActionCounters{}, Tasks: map[string]map[string]int64{}}
	for a, c := range m.counters {
		cc := *c
		cc.Codes = map[string]int64{}
		cc.Faults = map[string]int64{}
		for k, v := range c.Codes {
			cc.Codes[k] = v
		}
		for k, v := range c.Faults {
			cc.Faults[k] = v
		}
		out.Actions[a] = &cc
	}
	for a, st := range m.taskDone {
		out.Tasks[a] = map[string]int64{}
		for k, v := range st {
			out.Tasks[a][k] = v
		}
	}
	return out
}

// reset zeroes the JSON counters (Prometheus counters are monotonic and stay).
func (m *metrics) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.counters = map[string]*ActionCounters{}
	m.taskDone = map[string]map[string]int64{}
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
