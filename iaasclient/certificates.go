package iaasclient

import (
	"context"
	"time"
)

// Certificates: TLS certificates held by the IaaS for HTTPS listeners. The private key
// goes in once (UploadCertificate) and is never returned.
const (
	ActionUploadCertificate    = "UploadCertificate"
	ActionDescribeCertificates = "DescribeCertificates"
	ActionDeleteCertificate    = "DeleteCertificate"
)

// Certificate is an uploaded certificate as the IaaS reports it (without its key).
type Certificate struct {
	CertificateID string            `json:"certificateId"`
	Name          string            `json:"name"`
	DNSNames      []string          `json:"dnsNames,omitempty"` // of the leaf
	NotAfter      time.Time         `json:"notAfter"`
	Tags          map[string]string `json:"tags,omitempty"`
	CreatedAt     time.Time         `json:"createdAt"`
}

// UploadCertificateRequest carries a PEM chain (leaf first) and its PEM private key.
type UploadCertificateRequest struct {
	// Name is optional; a name that is given is not empty ("name": "" is refused).
	Name           string            `json:"name,omitempty"`
	CertificatePEM string            `json:"certificatePem"`
	PrivateKeyPEM  string            `json:"privateKeyPem"`
	Tags           map[string]string `json:"tags,omitempty"`
	ClientToken    string            `json:"clientToken,omitempty"`
}

type UploadCertificateResponse struct {
	ResponseMeta
	CertificateID string `json:"certificateId"`
}

type DescribeCertificatesRequest struct {
	CertificateIDs []string          `json:"certificateIds,omitempty"`
	Tags           map[string]string `json:"tags,omitempty"`
	Page
}

type DescribeCertificatesResponse struct {
	ResponseMeta
	Certificates []Certificate `json:"certificates"`
	TotalCount   int           `json:"totalCount"`
}

// DeleteCertificateRequest: a certificate an HTTPS listener uses is ResourceInUse.
type DeleteCertificateRequest struct {
	CertificateID string `json:"certificateId"`
}

type DeleteCertificateResponse struct {
	ResponseMeta
}

// UploadCertificate sets a client token when req has none.
func (c *Client) UploadCertificate(ctx context.Context, req *UploadCertificateRequest) (*UploadCertificateResponse, error) {
	r := withToken(req, func(r *UploadCertificateRequest) *string { return &r.ClientToken })
	return action[UploadCertificateRequest, UploadCertificateResponse](ctx, c, ActionUploadCertificate, r)
}

func (c *Client) DescribeCertificates(ctx context.Context, req *DescribeCertificatesRequest) (*DescribeCertificatesResponse, error) {
	return action[DescribeCertificatesRequest, DescribeCertificatesResponse](ctx, c, ActionDescribeCertificates, req)
}

func (c *Client) DeleteCertificate(ctx context.Context, req *DeleteCertificateRequest) (*DeleteCertificateResponse, error) {
	return action[DeleteCertificateRequest, DeleteCertificateResponse](ctx, c, ActionDeleteCertificate, req)
}
