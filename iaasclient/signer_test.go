package iaasclient

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestSignAndVerify(t *testing.T) {
	creds := Credentials{AccessKeyID: "AK1", SecretKey: "s3cret"}
	body := []byte(`{"diskIds":["disk-1"]}`)
	now := time.Unix(1_800_000_000, 0)
	req, _ := http.NewRequest(http.MethodPost, "http://x/v1/DescribeDisks?b=2&a=1&a=0", nil)
	if err := SignRequest(req, body, creds, now); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		body   []byte
		secret string
		path   string
		now    time.Time
		ok     bool
	}{
		{"valid", body, "s3cret", "/v1/DescribeDisks?b=2&a=1&a=0", now, true},
		{"same query, other order", body, "s3cret", "/v1/DescribeDisks?a=0&a=1&b=2", now, true},
		{"query dropped", body, "s3cret", "/v1/DescribeDisks", now, false},
		{"query value changed", body, "s3cret", "/v1/DescribeDisks?b=3&a=1&a=0", now, false},
		{"query parameter added", body, "s3cret", "/v1/DescribeDisks?b=2&a=1&a=0&dryRun=true", now, false},
		{"query that does not parse", body, "s3cret", "/v1/DescribeDisks?b=2&a=1&a=0%zz", now, false},
		{"body changed", []byte(`{"diskIds":["disk-2"]}`), "s3cret", "/v1/DescribeDisks?b=2&a=1&a=0", now, false},
		{"wrong secret", body, "other", "/v1/DescribeDisks?b=2&a=1&a=0", now, false},
		{"other action", body, "s3cret", "/v1/DeleteDisk?b=2&a=1&a=0", now, false},
		{"too old", body, "s3cret", "/v1/DescribeDisks?b=2&a=1&a=0", now.Add(MaxClockSkew + time.Second), false},
		{"from the future", body, "s3cret", "/v1/DescribeDisks?b=2&a=1&a=0", now.Add(-MaxClockSkew - time.Second), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sr, err := ParseSignedRequest(req.Header)
			if err != nil {
				t.Fatal(err)
			}
			if sr.AccessKeyID != "AK1" {
				t.Fatalf("access key %q", sr.AccessKeyID)
			}
			u, err := url.Parse(c.path)
			if err != nil {
				t.Fatal(err)
			}
			err = sr.Verify(http.MethodPost, u, c.body, c.secret, c.now)
			if c.ok != (err == nil) {
				t.Fatalf("ok=%v err=%v", c.ok, err)
			}
			if err != nil && !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("want ErrUnauthorized, got %v", err)
			}
		})
	}
}

func TestParseSignedRequestRejectsMalformedHeaders(t *testing.T) {
	for name, h := range map[string]http.Header{
		"none":         {},
		"bearer":       {"Authorization": {"Bearer abc"}},
		"no signature": {"Authorization": {SignatureScheme + " Credential=AK"}, HeaderNonce: {"0123456789abcdef"}, HeaderTimestamp: {"1"}},
		"short nonce":  {"Authorization": {SignatureScheme + " Credential=AK, Signature=ab"}, HeaderNonce: {"x"}, HeaderTimestamp: {"1"}},
		"bad time":     {"Authorization": {SignatureScheme + " Credential=AK, Signature=ab"}, HeaderNonce: {"0123456789abcdef"}, HeaderTimestamp: {"yesterday"}},
	} {
		if _, err := ParseSignedRequest(h); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("%s: want ErrUnauthorized, got %v", name, err)
		}
	}
}

// TestNonceRule pins API.md's rule at its boundaries: 16-128 characters of A-Za-z0-9-_.
func TestNonceRule(t *testing.T) {
	for _, c := range []struct {
		name  string
		nonce string
		ok    bool
	}{
		{"15", strings.Repeat("a", 15), false},
		{"16", strings.Repeat("a", 16), true},
		{"128", strings.Repeat("Z9-_", 32), true},
		{"129", strings.Repeat("a", 129), false},
		{"bad character", "0123456789abcde.", false},
		{"space", "0123456789abcde ", false},
		{"non-ASCII", "0123456789abcdé", false},
		{"empty", "", false},
	} {
		h := http.Header{"Authorization": {SignatureScheme + " Credential=AK, Signature=ab"}, HeaderNonce: {c.nonce}, HeaderTimestamp: {"1"}}
		_, err := ParseSignedRequest(h)
		if c.ok != (err == nil) {
			t.Errorf("%s (%d chars): ok=%v err=%v", c.name, len(c.nonce), c.ok, err)
		}
		if err != nil && !errors.Is(err, ErrUnauthorized) {
			t.Errorf("%s: want ErrUnauthorized, got %v", c.name, err)
		}
	}
}

// TestSignRequestMakesAValidNonce: what the client sends passes the server's rule.
func TestSignRequestMakesAValidNonce(t *testing.T) {
	req, _ := http.NewRequest(http.MethodPost, "http://x/v1/DescribeDisks", nil)
	if err := SignRequest(req, nil, Credentials{AccessKeyID: "AK", SecretKey: "s"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if n := req.Header.Get(HeaderNonce); !ValidNonce(n) {
		t.Fatalf("nonce %q", n)
	}
}
