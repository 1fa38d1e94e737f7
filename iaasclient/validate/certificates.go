package validate

import (
	"crypto/tls"
	"crypto/x509"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// UploadCertificate checks the request and returns the parsed leaf: the chain and key
// must be PEM, match each other, and the leaf must parse.
func UploadCertificate(req *iaasclient.UploadCertificateRequest) (*x509.Certificate, *iaasclient.Error) {
	if err := Name("name", req.Name, false); err != nil {
		return nil, err
	}
	if err := Tags("tags", req.Tags); err != nil {
		return nil, err
	}
	if err := Required("certificatePem", req.CertificatePEM); err != nil {
		return nil, err
	}
	if err := Required("privateKeyPem", req.PrivateKeyPEM); err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair([]byte(req.CertificatePEM), []byte(req.PrivateKeyPEM))
	if err != nil {
		// The crypto error says what is wrong (no PEM block, key mismatch) and echoes
		// no key material.
		return nil, Invalid("certificatePem", "not a PEM certificate chain matching privateKeyPem: %v", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, Invalid("certificatePem", "leaf certificate: %v", err)
	}
	return leaf, nil
}

// DescribeCertificates checks the request and returns its page bounds.
func DescribeCertificates(req *iaasclient.DescribeCertificatesRequest) (offset, limit int, err *iaasclient.Error) {
	return describe(req.Page, namedList{"certificateIds", req.CertificateIDs})
}

// MatchCertificate reports whether c passes the request's filters.
func MatchCertificate(req *iaasclient.DescribeCertificatesRequest, c *iaasclient.Certificate) bool {
	return InFilter(req.CertificateIDs, c.CertificateID) && TagsMatch(c.Tags, req.Tags)
}
