package tencentcloud

import (
	"context"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// Certificates (HTTPS listeners of Ingress load balancers) are not mapped in this
// version of the backend (see README "Running on Tencent Cloud"): these calls fail
// with a clear InvalidParameter, which the CCM turns into an Event, instead of doing
// something half right. HTTP/HTTPS listeners are refused the same way (clb.go).
func unsupported(action string) error {
	return ic.Errorf(ic.CodeInvalidParameter, "%s is not supported by the tencentcloud backend yet (the SSL certificate mapping is pending)", action)
}

func (c *Client) UploadCertificate(context.Context, *ic.UploadCertificateRequest) (*ic.UploadCertificateResponse, error) {
	return nil, unsupported("UploadCertificate")
}

// DescribeCertificates answers "none", so that the Ingress controller's cleanup and
// sweep do not fail on this backend.
func (c *Client) DescribeCertificates(context.Context, *ic.DescribeCertificatesRequest) (*ic.DescribeCertificatesResponse, error) {
	return &ic.DescribeCertificatesResponse{Certificates: []ic.Certificate{}}, nil
}

func (c *Client) DeleteCertificate(context.Context, *ic.DeleteCertificateRequest) (*ic.DeleteCertificateResponse, error) {
	return nil, ic.Errorf(ic.CodeResourceNotFound, "no certificates on the tencentcloud backend yet")
}
