package tencentcloud

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// Environment variables read when no credentials file is configured; the names are
// the ones Tencent's own tools (tccli, terraform provider) use.
const (
	EnvSecretID  = "TENCENTCLOUD_SECRET_ID"
	EnvSecretKey = "TENCENTCLOUD_SECRET_KEY"
)

// DefaultMetadataURL is the CVM instance metadata service.
const DefaultMetadataURL = "http://metadata.tencentyun.com"

// Config is what the backend needs; the CCM and the CSI driver fill it from their
// cloud config (field names documented in README "Running on Tencent Cloud").
type Config struct {
	Region string
	VpcID  string
	// Credentials: SecretId as AccessKeyID, SecretKey as SecretKey.
	Credentials ic.Credentials
	// Endpoint overrides the per-product domains (cvm.tencentcloudapi.com, ...) with
	// one base URL, e.g. http://127.0.0.1:7780 for the local fake. Empty: the real API.
	Endpoint string
	// MetadataURL is the instance metadata service (default DefaultMetadataURL).
	MetadataURL string
	// AccountID (the UIN) names resources for the tag service, which is how disk and
	// load balancer tags change after creation. Without it those changes fail clearly.
	AccountID string
	// MaxDisks is the number of data disks a node may have attached, reported to the
	// scheduler through the CSI driver (default DefaultMaxDisks, CBS's limit per CVM).
	MaxDisks int
	// SnapshotNameTag is the tag key by which a consumer finds a snapshot by name (the
	// CSI driver's csi.SnapshotNameTag). CBS snapshots have no tags: this one is answered
	// from SnapshotName (cbs_snapshots.go). Empty: snapshots report no tags.
	SnapshotNameTag string
	// QPS bounds this client's request rate across all products (default 20, the
	// documented per-action limit of most Describe actions).
	QPS float64
	// Timeout bounds one HTTP request (default 30 s).
	Timeout  time.Duration
	Observer ic.Observer
	// LocalAddr is the source IP of API connections (default: the kernel's choice).
	LocalAddr string
}

// LoadCredentials reads the credentials file if one is named (the same
// {accessKeyId, secretKey} file as the sim backend, mounted from a Secret), else the
// TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY environment variables.
func LoadCredentials(file string) (ic.Credentials, error) {
	if file != "" {
		return ic.LoadCredentialsFile(file)
	}
	id, key := strings.TrimSpace(os.Getenv(EnvSecretID)), strings.TrimSpace(os.Getenv(EnvSecretKey))
	if id == "" || key == "" {
		return ic.Credentials{}, fmt.Errorf("no Tencent Cloud credentials: set credentialsFile in the cloud config or %s and %s", EnvSecretID, EnvSecretKey)
	}
	return ic.Credentials{AccessKeyID: id, SecretKey: key}, nil
}

// Validate names the first bad field.
func (c *Config) Validate() error {
	switch {
	case c.Region == "":
		return errors.New("tencentcloud: region is required (e.g. ap-guangzhou)")
	case c.VpcID == "":
		return errors.New("tencentcloud: vpcId is required")
	case c.Credentials.AccessKeyID == "" || c.Credentials.SecretKey == "":
		return errors.New("tencentcloud: credentials are required (SecretId and SecretKey)")
	}
	for name, u := range map[string]string{"endpoint": c.Endpoint, "metadataURL": c.MetadataURL} {
		if u == "" {
			continue
		}
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("tencentcloud: %s must be an http(s) URL, got %q", name, u)
		}
	}
	return nil
}
