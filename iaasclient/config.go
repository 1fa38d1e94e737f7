package iaasclient

import (
	"fmt"
	"net/netip"
	"net/url"
	"time"
)

// Defaults of Config. They favour finishing a call over failing fast, but stay well
// below the minutes a Kubernetes controller waits before it retries on its own.
const (
	DefaultAttemptTimeout  = 10 * time.Second
	DefaultMaxAttempts     = 8
	DefaultMaxElapsed      = 2 * time.Minute
	DefaultBackoffBase     = 100 * time.Millisecond
	DefaultBackoffCap      = 5 * time.Second
	DefaultMaxRetryAfter   = 30 * time.Second
	DefaultTaskPollInitial = 50 * time.Millisecond
	DefaultTaskPollMax     = 2 * time.Second
	DefaultUserAgent       = "kube-iaas-client"
)

// TLSConfig selects the certificates of an https endpoint. Every field is optional:
// no CAFile trusts the system roots; CertFile and KeyFile together present a client
// certificate (mutual TLS), re-read when the files change so rotation needs no restart.
type TLSConfig struct {
	CAFile     string `json:"caFile,omitempty"`
	CertFile   string `json:"certFile,omitempty"`
	KeyFile    string `json:"keyFile,omitempty"`
	ServerName string `json:"serverName,omitempty"`
}

// RateLimit is a client-side token bucket shared by every action of one Client. It is
// off by default: the server throttles (RequestLimitExceeded) and the client backs off,
// while a client-side bucket that is too small turns bursts into queues that outlive
// the caller's patience (an attach stuck for an hour behind client throttling is a
// known failure of other drivers). Waits never outlast the caller's ctx.
type RateLimit struct {
	QPS   float64 `json:"qps,omitempty"`
	Burst int     `json:"burst,omitempty"`
}

// Config configures a Client. Only Endpoint is required; Credentials are required for
// every action but not for Identity (the metadata endpoint is unsigned).
type Config struct {
	// Endpoint is the base URL, e.g. https://iaas.example:8443. Plain http is meant
	// for loopback test setups only (see API.md, Transport).
	Endpoint    string
	Credentials Credentials
	TLS         TLSConfig

	// AttemptTimeout bounds one HTTP attempt; an attempt that times out is retried.
	AttemptTimeout time.Duration
	// MaxAttempts is the most HTTP attempts of one call, the first included; 1
	// disables retries. 0 means DefaultMaxAttempts.
	MaxAttempts int
	// MaxElapsed bounds one call, retries and waits included, on top of the caller's
	// ctx. 0 means DefaultMaxElapsed.
	MaxElapsed time.Duration
	// BackoffBase and BackoffCap shape the full-jitter backoff between retries: the
	// n-th retry waits a random time in [0, min(cap, base*2^n)).
	BackoffBase time.Duration
	BackoffCap  time.Duration
	// MaxRetryAfter caps how long a server's Retry-After is honoured.
	MaxRetryAfter time.Duration

	// TaskPollInitial and TaskPollMax shape WaitTask's polling: fast first, because
	// most tasks end within a second, then slower for long ones.
	TaskPollInitial time.Duration
	TaskPollMax     time.Duration

	RateLimit RateLimit

	// LocalAddr is the source IP of every connection ("" lets the kernel choose). The
	// IaaS identifies callers by source address, so tests bind 127.0.0.x aliases.
	LocalAddr string
	UserAgent string
	// Observer receives per-operation metrics; nil records nothing.
	Observer Observer
	// Now replaces time.Now for signing (tests of clock skew).
	Now func() time.Time
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.AttemptTimeout, DefaultAttemptTimeout)
	def(&c.MaxElapsed, DefaultMaxElapsed)
	def(&c.BackoffBase, DefaultBackoffBase)
	def(&c.BackoffCap, DefaultBackoffCap)
	def(&c.MaxRetryAfter, DefaultMaxRetryAfter)
	def(&c.TaskPollInitial, DefaultTaskPollInitial)
	def(&c.TaskPollMax, DefaultTaskPollMax)
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

func (c *Config) validate() (*url.URL, error) {
	u, err := url.Parse(c.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("endpoint: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("endpoint: %q must be an http or https URL", c.Endpoint)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("endpoint: %q has no host", c.Endpoint)
	}
	if u.Scheme == "http" && (c.TLS.CAFile != "" || c.TLS.CertFile != "") {
		return nil, fmt.Errorf("tls: certificates are set but the endpoint %q is plain http", c.Endpoint)
	}
	if (c.Credentials.AccessKeyID == "") != (c.Credentials.SecretKey == "") {
		return nil, fmt.Errorf("credentials: accessKeyId and secretKey must both be set or both be empty")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return nil, fmt.Errorf("tls: certFile and keyFile must both be set or both be empty")
	}
	if c.LocalAddr != "" {
		if _, err := netip.ParseAddr(c.LocalAddr); err != nil {
			return nil, fmt.Errorf("localAddr: %q is not an IP address", c.LocalAddr)
		}
	}
	for name, d := range map[string]time.Duration{
		"attemptTimeout": c.AttemptTimeout, "maxElapsed": c.MaxElapsed, "backoffBase": c.BackoffBase,
		"backoffCap": c.BackoffCap, "maxRetryAfter": c.MaxRetryAfter, "taskPollInitial": c.TaskPollInitial,
		"taskPollMax": c.TaskPollMax,
	} {
		if d < 0 {
			return nil, fmt.Errorf("%s: must not be negative", name)
		}
	}
	if c.MaxAttempts < 0 {
		return nil, fmt.Errorf("maxAttempts: must not be negative")
	}
	if c.RateLimit.QPS < 0 || c.RateLimit.Burst < 0 {
		return nil, fmt.Errorf("rateLimit: qps and burst must not be negative")
	}
	return u, nil
}
