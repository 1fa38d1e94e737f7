package iaasclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// backoff is the full-jitter wait before retry n (n = 1 for the first retry): a random
// time in [0, min(cap, base*2^(n-1))). Full jitter spreads the retries of many clients
// that failed together (a throttled burst) instead of moving the burst later.
func backoff(n int, base, cap time.Duration) time.Duration {
	d := cap
	if n-1 < 30 {
		if e := base << (n - 1); e > 0 && e < cap {
			d = e
		}
	}
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}

// retryAfter reads a Retry-After header (seconds or an HTTP date), capped by limit.
// It returns 0 when the header is absent or unreadable.
func retryAfter(h http.Header, now time.Time, limit time.Duration) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		d = time.Duration(secs * float64(time.Second))
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), limit)
}

// retryableCode says whether an API error may succeed when sent again.
func retryableCode(code Code, status int) bool {
	switch code {
	case CodeRequestLimitExceeded, CodeInternalError:
		return true
	case CodeResourceNotFound, CodeResourceInUse, CodeLimitExceeded, CodeInvalidParameter,
		CodeUnauthorizedOperation, CodeIdempotentParameterMismatch:
		return false
	}
	return status >= 500
}

// retryableTransport says whether a transport error may go away on a new attempt.
// Certificate errors do not: retrying only delays the report of a misconfiguration.
func retryableTransport(err error) bool {
	var (
		unknownAuth x509.UnknownAuthorityError
		hostname    x509.HostnameError
		invalid     x509.CertificateInvalidError
		verify      *tls.CertificateVerificationError
		recordHdr   tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &unknownAuth), errors.As(err, &hostname), errors.As(err, &invalid),
		errors.As(err, &verify), errors.As(err, &recordHdr):
		return false
	}
	return true
}
