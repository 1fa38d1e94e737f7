package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// gather returns name{labels} -> value (counters) or sample count (histograms).
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName() + "{"
			for i, l := range m.GetLabel() {
				if i > 0 {
					key += ","
				}
				key += l.GetName() + "=" + l.GetValue()
			}
			key += "}"
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				out[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

func TestObserver(t *testing.T) {
	reg := prometheus.NewRegistry()
	o, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	o.ObserveCall("AttachDisk", "Success", 20*time.Millisecond)
	o.ObserveCall("AttachDisk", "ResourceInUse", time.Millisecond)
	o.ObserveThrottled("AttachDisk")
	o.ObserveRetry("AttachDisk")
	o.ObserveRetry("AttachDisk")
	want := map[string]float64{
		"iaas_api_requests_total{code=Success,operation=AttachDisk}":       1,
		"iaas_api_requests_total{code=ResourceInUse,operation=AttachDisk}": 1,
		"iaas_api_request_duration_seconds{operation=AttachDisk}":          2,
		"iaas_api_throttled_total{operation=AttachDisk}":                   1,
		"iaas_api_retries_total{operation=AttachDisk}":                     2,
	}
	got := gather(t, reg)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("series %v", got)
	}
	if _, err := New(reg); err == nil {
		t.Error("registering twice on one registry should fail")
	}
}
