// Package metrics is the Prometheus implementation of iaasclient.Observer.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// Metric names; the operation label is the API action (or "Identity").
const (
	RequestDurationName = "iaas_api_request_duration_seconds"
	RequestsTotalName   = "iaas_api_requests_total"
	ThrottledTotalName  = "iaas_api_throttled_total"
	RetriesTotalName    = "iaas_api_retries_total"
)

// Observer records IaaS API calls in Prometheus metrics.
type Observer struct {
	duration  *prometheus.HistogramVec
	requests  *prometheus.CounterVec
	throttled *prometheus.CounterVec
	retries   *prometheus.CounterVec
}

var _ iaasclient.Observer = (*Observer)(nil)

// New creates the metrics and registers them on reg. The CCM passes a registerer of
// the Kubernetes legacy registry, the CSI driver its own registry. Registering twice on
// the same registry is an error, so make one Observer per process and share it.
func New(reg prometheus.Registerer) (*Observer, error) {
	o := &Observer{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: RequestDurationName,
			Help: "Duration of IaaS API calls, retries and waits included, by operation.",
			// From a fast Describe (ms) to an attach retried through throttling.
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"operation"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: RequestsTotalName,
			Help: "IaaS API calls by operation and result code (Success, an API error code, TransportError, Canceled).",
		}, []string{"operation", "code"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: ThrottledTotalName,
			Help: "IaaS API attempts answered RequestLimitExceeded, by operation.",
		}, []string{"operation"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: RetriesTotalName,
			Help: "IaaS API retries, by operation.",
		}, []string{"operation"}),
	}
	for _, c := range []prometheus.Collector{o.duration, o.requests, o.throttled, o.retries} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// MustNew is New that panics, for package-level wiring.
func MustNew(reg prometheus.Registerer) *Observer {
	o, err := New(reg)
	if err != nil {
		panic(err)
	}
	return o
}

// ObserveCall implements iaasclient.Observer.
func (o *Observer) ObserveCall(operation, code string, d time.Duration) {
	o.duration.WithLabelValues(operation).Observe(d.Seconds())
	o.requests.WithLabelValues(operation, code).Inc()
}

// ObserveThrottled implements iaasclient.Observer.
func (o *Observer) ObserveThrottled(operation string) { o.throttled.WithLabelValues(operation).Inc() }

// ObserveRetry implements iaasclient.Observer.
func (o *Observer) ObserveRetry(operation string) { o.retries.WithLabelValues(operation).Inc() }
