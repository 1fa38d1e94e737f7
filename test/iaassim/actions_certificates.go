package iaassim

import (
	"fmt"
	"slices"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/iaasclient/validate"
)

// certsExist checks that every certificate the specs name is the tenant's (another
// tenant's is NotFound, like a missing one). The caller holds state.mu.
func (s *Server) certsExist(c *call, field string, specs ...iaasclient.ListenerSpec) *iaasclient.Error {
	for i, l := range specs {
		if l.CertificateID == "" {
			continue
		}
		if cert := s.state.certs[l.CertificateID]; cert == nil || cert.Tenant != c.tenant.name {
			f := field + ".certificateId"
			if field == "listeners" {
				f = fmt.Sprintf("listeners[%d].certificateId", i)
			}
			return validate.NotFound(f, "certificate", l.CertificateID)
		}
	}
	return nil
}

func (s *Server) uploadCertificate(c *call, req *iaasclient.UploadCertificateRequest) (any, *iaasclient.Error) {
	leaf, err := validate.UploadCertificate(req)
	if err != nil {
		return nil, err
	}
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	hashed := *req
	hashed.ClientToken = ""
	hash := paramsHash(hashed)
	resp := &iaasclient.UploadCertificateResponse{}
	if ok, err := s.replayToken(c, req.ClientToken, hash, resp); ok || err != nil {
		return resp, err
	}
	rec := &certRec{Tenant: c.tenant.name, CertificatePEM: req.CertificatePEM, PrivateKeyPEM: req.PrivateKeyPEM,
		Certificate: iaasclient.Certificate{
			CertificateID: newID("cert-", has(s.state.certs)), Name: req.Name, DNSNames: slices.Clone(leaf.DNSNames),
			NotAfter: leaf.NotAfter.UTC(), Tags: copyTags(req.Tags), CreatedAt: s.now().UTC(),
		}}
	tx := s.state.begin()
	tx.putCert(rec)
	resp.CertificateID = rec.CertificateID
	s.recordToken(tx, c, req.ClientToken, hash, resp)
	if err := tx.commit(); err != nil {
		return nil, err
	}
	return resp, nil
}

func (s *Server) describeCertificates(c *call, req *iaasclient.DescribeCertificatesRequest) (any, *iaasclient.Error) {
	off, lim, err := validate.DescribeCertificates(req)
	if err != nil {
		return nil, err
	}
	s.state.mu.RLock()
	defer s.state.mu.RUnlock()
	page, total := describePage(s.state.certs, func(r *certRec) bool {
		return r.Tenant == c.tenant.name && validate.MatchCertificate(req, &r.Certificate)
	}, func(r *certRec) iaasclient.Certificate { return *clone(&r.Certificate) }, off, lim)
	return &iaasclient.DescribeCertificatesResponse{TotalCount: total, Certificates: page}, nil
}

// deleteCertificate refuses a certificate an HTTPS listener of a load balancer uses
// (ResourceInUse): the listener would lose its key at the next apply.
func (s *Server) deleteCertificate(c *call, req *iaasclient.DeleteCertificateRequest) (any, *iaasclient.Error) {
	if err := validate.Required("certificateId", req.CertificateID); err != nil {
		return nil, err
	}
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	cert := s.state.certs[req.CertificateID]
	if cert == nil || cert.Tenant != c.tenant.name {
		return nil, validate.NotFound("certificateId", "certificate", req.CertificateID)
	}
	for _, lb := range sortedValues(s.state.lbs, func(lb *lbRec) bool { return lb.Tenant == c.tenant.name }) {
		for _, l := range lb.Listeners {
			if l.CertificateID == req.CertificateID {
				return nil, validate.InUse("certificateId", "certificate %s is used by listener %s of load balancer %s",
					req.CertificateID, l.ListenerID, lb.LoadBalancerID)
			}
		}
	}
	tx := s.state.begin()
	tx.delCert(req.CertificateID)
	if err := tx.commit(); err != nil {
		return nil, err
	}
	return &iaasclient.DeleteCertificateResponse{}, nil
}
