package simproc

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// RawClient sends signed API requests from a chosen loopback source address, without
// retries: what a test needs to see exactly what the server answers.
type RawClient struct {
	BaseURL string
	Creds   iaasclient.Credentials
	// Header is added to every request (for spoofing tests).
	Header http.Header
	// Nonce, when set, signs every request with this nonce instead of a fresh one (for
	// tests of the nonce rule; the signature is still right).
	Nonce string
	// AfterSign, when set, changes each request after it was signed (for tampering
	// tests: a query string added, a header changed).
	AfterSign func(*http.Request)
	HTTP      *http.Client
}

// NewRawClient binds outgoing connections to source (e.g. 127.0.0.11); an invalid
// source leaves the choice to the kernel.
func NewRawClient(baseURL string, creds iaasclient.Credentials, source netip.Addr) *RawClient {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if source.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: source.AsSlice()}
	}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 16}
	return &RawClient{BaseURL: baseURL, Creds: creds, HTTP: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// Response is a raw answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Err decodes the error envelope (nil on 200).
func (r *Response) Err() *iaasclient.Error {
	if r.Status == http.StatusOK {
		return nil
	}
	var env iaasclient.ErrorEnvelope
	if err := json.Unmarshal(r.Body, &env); err != nil || env.Error == nil {
		return &iaasclient.Error{Code: "?", Message: fmt.Sprintf("HTTP %d: %s", r.Status, r.Body)}
	}
	return env.Error
}

// Do signs and sends body (marshalled unless it is []byte) to POST /v1/<action>.
func (c *RawClient) Do(ctx context.Context, action string, body any) (*Response, error) {
	raw, ok := body.([]byte)
	if !ok {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+iaasclient.APIPathPrefix+action, bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, vs := range c.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if err := iaasclient.SignRequest(req, raw, c.Creds, time.Now()); err != nil {
		return nil, err
	}
	if c.Nonce != "" {
		signWithNonce(req, raw, c.Creds, c.Nonce)
	}
	if c.AfterSign != nil {
		c.AfterSign(req)
	}
	return c.send(req)
}

// Get sends an unsigned GET (the metadata endpoint).
func (c *RawClient) Get(ctx context.Context, path string) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+path, nil)
	if err != nil {
		return nil, err
	}
	for k, vs := range c.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	return c.send(req)
}

func (c *RawClient) send(req *http.Request) (*Response, error) {
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// Call sends req and decodes a 200 answer into out; other answers are *iaasclient.Error.
func (c *RawClient) Call(ctx context.Context, action string, req, out any) error {
	r, err := c.Do(ctx, action, req)
	if err != nil {
		return err
	}
	if e := r.Err(); e != nil {
		return e
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(r.Body, out)
}

// signWithNonce re-signs a signed request with the given nonce, as SignRequest would.
func signWithNonce(req *http.Request, body []byte, creds iaasclient.Credentials, nonce string) {
	ts := req.Header.Get(iaasclient.HeaderTimestamp)
	q, _ := iaasclient.CanonicalQuery(req.URL.RawQuery)
	m := hmac.New(sha256.New, []byte(creds.SecretKey))
	m.Write([]byte(iaasclient.StringToSign(req.Method, req.URL.Path, q, ts, nonce, body)))
	req.Header.Set(iaasclient.HeaderNonce, nonce)
	req.Header.Set("Authorization", fmt.Sprintf("%s Credential=%s, Signature=%s", iaasclient.SignatureScheme, creds.AccessKeyID, hex.EncodeToString(m.Sum(nil))))
}
