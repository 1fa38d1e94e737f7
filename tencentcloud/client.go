package tencentcloud

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	"golang.org/x/time/rate"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// Client is the Tencent Cloud backend of iaasclient.API.
type Client struct {
	cfg  Config
	sdk  *common.Client
	lim  *rate.Limiter
	obs  ic.Observer
	meta *http.Client
}

var _ ic.API = (*Client)(nil)

// New builds the client; it makes no request (Check does).
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.QPS <= 0 {
		cfg.QPS = 20
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.MaxDisks <= 0 {
		cfg.MaxDisks = DefaultMaxDisks
	}
	if cfg.MetadataURL == "" {
		cfg.MetadataURL = DefaultMetadataURL
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	p := profile.NewClientProfile()
	p.SignMethod = "TC3-HMAC-SHA256"
	p.Language = "en-US"
	p.HttpProfile.ReqTimeout = int(cfg.Timeout / time.Second)
	if cfg.Endpoint != "" {
		u, _ := url.Parse(cfg.Endpoint)
		// One endpoint for every product: the SDK then sends every request to this
		// host, the product being named in the signature's credential scope.
		p.HttpProfile.Scheme = strings.ToUpper(u.Scheme)
		p.HttpProfile.Endpoint = u.Host
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.LocalAddr != "" {
		ip := net.ParseIP(cfg.LocalAddr)
		if ip == nil {
			return nil, fmt.Errorf("tencentcloud: localAddr %q is not an IP address", cfg.LocalAddr)
		}
		tr.DialContext = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 10 * time.Second}).DialContext
	}
	sdk := (&common.Client{}).Init(cfg.Region).WithCredential(common.NewCredential(cfg.Credentials.AccessKeyID, cfg.Credentials.SecretKey)).WithProfile(p)
	sdk.WithHttpTransport(tr)
	return &Client{
		cfg: cfg, sdk: sdk, obs: cfg.Observer,
		lim:  rate.NewLimiter(rate.Limit(cfg.QPS), int(cfg.QPS)),
		meta: &http.Client{Timeout: 5 * time.Second, Transport: tr},
	}, nil
}

type nopObserver struct{}

func (nopObserver) ObserveCall(string, string, time.Duration) {}
func (nopObserver) ObserveThrottled(string)                   {}
func (nopObserver) ObserveRetry(string)                       {}

// Check is the start-up check: the credentials work, the region exists and the VPC is
// there. Binaries exit with its error instead of starting controllers that would act
// on wrong answers (a CCM that cannot see its instances must not delete nodes).
func (c *Client) Check(ctx context.Context) error {
	resp, err := c.DescribeVpcs(ctx, &ic.DescribeVpcsRequest{VpcIDs: []string{c.cfg.VpcID}})
	if err != nil {
		return fmt.Errorf("tencentcloud: checking credentials, region %q and VPC %q: %w", c.cfg.Region, c.cfg.VpcID, err)
	}
	for _, v := range resp.Vpcs {
		if v.VpcID == c.cfg.VpcID {
			return nil
		}
	}
	return fmt.Errorf("tencentcloud: VPC %q not found in region %q: %w", c.cfg.VpcID, c.cfg.Region, ic.ErrNotFound)
}
