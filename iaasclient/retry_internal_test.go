package iaasclient

import (
	"net/http"
	"testing"
	"time"
)

func TestBackoffFullJitter(t *testing.T) {
	base, cap := 100*time.Millisecond, time.Second
	for n := 1; n <= 40; n++ {
		limit := min(cap, base<<min(n-1, 30))
		if n > 30 {
			limit = cap
		}
		for range 50 {
			if d := backoff(n, base, cap); d < 0 || d >= limit {
				t.Fatalf("backoff(%d) = %v, want [0, %v)", n, d, limit)
			}
		}
	}
}

func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"2", 2 * time.Second},
		{"0.5", 500 * time.Millisecond},
		{"-1", 0},
		{"999", 30 * time.Second},
		{now.Add(5 * time.Second).Format(http.TimeFormat), 5 * time.Second},
		{now.Add(-5 * time.Second).Format(http.TimeFormat), 0},
		{"soon", 0},
	}
	for _, tc := range cases {
		h := http.Header{}
		if tc.v != "" {
			h.Set("Retry-After", tc.v)
		}
		if got := retryAfter(h, now, 30*time.Second); got != tc.want {
			t.Errorf("Retry-After %q = %v, want %v", tc.v, got, tc.want)
		}
	}
}

func TestRetryableCode(t *testing.T) {
	for code, want := range map[Code]bool{
		CodeRequestLimitExceeded: true, CodeInternalError: true, CodeResourceNotFound: false,
		CodeResourceInUse: false, CodeLimitExceeded: false, CodeInvalidParameter: false,
		CodeUnauthorizedOperation: false, CodeIdempotentParameterMismatch: false,
	} {
		e := &Error{Code: code}
		if got := retryableCode(code, e.HTTPStatus()); got != want {
			t.Errorf("%s retryable = %v", code, got)
		}
	}
	if !retryableCode("SomethingNew", 503) || retryableCode("SomethingNew", 418) {
		t.Error("unknown codes should follow the status")
	}
}
