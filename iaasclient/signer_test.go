package iaasclient

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestSignAndVerify(t *testing.T) {
	creds := Credentials{AccessKeyID: "AK1", SecretKey: "s3cret"}
	body := []byte(`{"diskIds":["disk-1"]}`)
	now := time.Unix(1_800_000_000, 0)
	req, _ := http.NewRequest(http.MethodPost, "http://x/v1/DescribeDisks", nil)
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
		{"valid", body, "s3cret", "/v1/DescribeDisks", now, true},
		{"body changed", []byte(`{"diskIds":["disk-2"]}`), "s3cret", "/v1/DescribeDisks", now, false},
		{"wrong secret", body, "other", "/v1/DescribeDisks", now, false},
		{"other action", body, "s3cret", "/v1/DeleteDisk", now, false},
		{"too old", body, "s3cret", "/v1/DescribeDisks", now.Add(MaxClockSkew + time.Second), false},
		{"from the future", body, "s3cret", "/v1/DescribeDisks", now.Add(-MaxClockSkew - time.Second), false},
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
			err = sr.Verify(http.MethodPost, c.path, c.body, c.secret, c.now)
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
