// Package simadmin is a client of iaas-sim's admin API: it sends the bearer token of
// --admin-token-file, or dials the unix socket of --admin-listen unix:PATH.
package simadmin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/kube-iaas/kube-iaas/test/iaassim/diskaudit"
)

// Client calls one simulator's admin API.
type Client struct {
	base  string
	token string
	hc    *http.Client
}

// New returns a client of adminURL (http://host:port or unix:PATH, as in the ready
// file), reading the token from tokenFile ("" for none).
func New(adminURL, tokenFile string) (*Client, error) {
	c := &Client{base: adminURL, hc: &http.Client{Timeout: 30 * time.Second}}
	if path, ok := strings.CutPrefix(adminURL, "unix:"); ok {
		c.base = "http://iaas-sim-admin"
		c.hc.Transport = &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}}
	}
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return nil, fmt.Errorf("admin token: %w", err)
		}
		c.token = strings.TrimSpace(string(b))
	}
	return c, nil
}

// Raw sends one request and returns the response as is (the caller closes the body).
func (c *Client) Raw(ctx context.Context, method, path string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.hc.Do(req)
}

// StatusError is an answer other than 200.
type StatusError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("admin %s %s: HTTP %d %s", e.Method, e.Path, e.Status, e.Body)
}

// Do sends in (JSON, nil for no body) and decodes a 200 answer into out (nil to drop it).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var rd io.Reader
	switch v := in.(type) {
	case nil:
	case string:
		rd = strings.NewReader(v)
	case []byte:
		rd = bytes.NewReader(v)
	default:
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	resp, err := c.Raw(ctx, method, path, rd)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return &StatusError{Method: method, Path: path, Status: resp.StatusCode, Body: string(b)}
	}
	if out != nil {
		if bb, ok := out.(*[]byte); ok {
			*bb = b
			return nil
		}
		return json.Unmarshal(b, out)
	}
	return nil
}

// DiskAudit returns the simulator's disk attach/detach records with Seq > since.
func (c *Client) DiskAudit(ctx context.Context, since uint64) ([]diskaudit.Record, error) {
	var out diskaudit.Response
	if err := c.Do(ctx, http.MethodGet, fmt.Sprintf("/admin/v1/audit/disks?since=%d", since), nil, &out); err != nil {
		return nil, err
	}
	return out.Records, nil
}
