package tencentcloud

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// metadata reads one value under /latest/meta-data/ of the metadata service.
func (c *Client) metadata(ctx context.Context, path string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(c.cfg.MetadataURL, "/")+"/latest/meta-data/"+path, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.meta.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return "", err
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return "", ic.Errorf(ic.CodeResourceNotFound, "metadata %s: not found", path)
	case resp.StatusCode != http.StatusOK:
		return "", fmt.Errorf("metadata %s: HTTP %d", path, resp.StatusCode)
	}
	return strings.TrimSpace(string(b)), nil
}
