package fake

import (
	"context"
	"fmt"
	"slices"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/validate"
)

// cert is an uploaded certificate with its PEM material, which no answer carries.
type cert struct {
	ic.Certificate
	certPEM, keyPEM string
}

// Certificate returns an uploaded certificate and its PEM chain.
func (c *Cloud) Certificate(id string) (ic.Certificate, string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ct, ok := c.certs[id]
	if !ok {
		return ic.Certificate{}, "", false
	}
	return clone(ct.Certificate), ct.certPEM, true
}

// certsExist is the simulator's rule: an HTTPS listener must name an uploaded
// certificate. The caller holds c.mu.
func (c *Cloud) certsExist(field string, specs ...ic.ListenerSpec) error {
	for i, l := range specs {
		if l.CertificateID == "" {
			continue
		}
		if _, ok := c.certs[l.CertificateID]; !ok {
			f := field + ".certificateId"
			if field == "listeners" {
				f = fmt.Sprintf("listeners[%d].certificateId", i)
			}
			return c.fail(validate.NotFound(f, "certificate", l.CertificateID))
		}
	}
	return nil
}

// UploadCertificate implements iaasclient.CertificateAPI.
func (c *Cloud) UploadCertificate(ctx context.Context, req *ic.UploadCertificateRequest) (*ic.UploadCertificateResponse, error) {
	if err := c.enter(ctx, ic.ActionUploadCertificate, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	leaf, verr := validate.UploadCertificate(req)
	if verr != nil {
		return nil, c.fail(verr)
	}
	fp := *req
	fp.ClientToken = ""
	if r, done, err := replay[ic.UploadCertificateResponse](c, ic.ActionUploadCertificate, req.ClientToken, fp); done {
		return r, err
	}
	ct := &cert{Certificate: ic.Certificate{
		CertificateID: c.newID("cert"), Name: req.Name, DNSNames: slices.Clone(leaf.DNSNames),
		NotAfter: leaf.NotAfter.UTC(), Tags: clone(req.Tags), CreatedAt: c.now().UTC(),
	}, certPEM: req.CertificatePEM, keyPEM: req.PrivateKeyPEM}
	c.certs[ct.CertificateID] = ct
	resp := &ic.UploadCertificateResponse{ResponseMeta: c.meta(), CertificateID: ct.CertificateID}
	c.recordToken(ic.ActionUploadCertificate, req.ClientToken, fp, resp)
	r := *resp
	return &r, nil
}

// DescribeCertificates implements iaasclient.CertificateAPI.
func (c *Cloud) DescribeCertificates(ctx context.Context, req *ic.DescribeCertificatesRequest) (*ic.DescribeCertificatesResponse, error) {
	if err := c.enter(ctx, ic.ActionDescribeCertificates, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	off, lim, err := validate.DescribeCertificates(req)
	if err != nil {
		return nil, c.fail(err)
	}
	m := make(map[string]*ic.Certificate, len(c.certs))
	for id, ct := range c.certs {
		m[id] = &ct.Certificate
	}
	page, total := describe(m, func(x *ic.Certificate) bool { return validate.MatchCertificate(req, x) }, off, lim)
	return &ic.DescribeCertificatesResponse{ResponseMeta: c.meta(), Certificates: page, TotalCount: total}, nil
}

// DeleteCertificate implements iaasclient.CertificateAPI: a certificate a listener
// uses is ResourceInUse, a missing one NotFound, as in the simulator.
func (c *Cloud) DeleteCertificate(ctx context.Context, req *ic.DeleteCertificateRequest) (*ic.DeleteCertificateResponse, error) {
	if err := c.enter(ctx, ic.ActionDeleteCertificate, req, req == nil); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := validate.Required("certificateId", req.CertificateID); err != nil {
		return nil, c.fail(err)
	}
	if _, ok := c.certs[req.CertificateID]; !ok {
		return nil, c.fail(validate.NotFound("certificateId", "certificate", req.CertificateID))
	}
	for _, lb := range c.lbs {
		for _, l := range lb.Listeners {
			if l.CertificateID == req.CertificateID {
				return nil, c.fail(validate.InUse("certificateId", "certificate %s is used by listener %s of load balancer %s",
					req.CertificateID, l.ListenerID, lb.LoadBalancerID))
			}
		}
	}
	delete(c.certs, req.CertificateID)
	return &ic.DeleteCertificateResponse{ResponseMeta: c.meta()}, nil
}
