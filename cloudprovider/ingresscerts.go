package cloudprovider

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/klog/v2"

	ic "github.com/kube-iaas/kube-iaas/iaasclient"
)

// ingressCerts keeps the IaaS certificates of Ingresses equal to their TLS Secrets.
// A certificate belongs to one Ingress (tags: cluster, Ingress UID) and holds one
// Secret content (tag: its hash), so a changed Secret is a new upload, an unchanged
// one costs a Describe, and certificates no listener uses any more are deleted.
type ingressCerts struct {
	api     ic.CertificateAPI
	cluster string
	secret  func(ns, name string) (*v1.Secret, error)
}

// secretHash identifies a certificate and key pair.
func secretHash(crt, key []byte) string {
	h := sha256.New()
	h.Write(crt)
	h.Write([]byte{0})
	h.Write(key)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// tlsSecretName picks the Secret of the Ingress's HTTPS listener: the IaaS listener
// holds one certificate, so only the first Secret of spec.tls is used.
func tlsSecretName(ing *networkingv1.Ingress) (string, []problem) {
	var name string
	var probs []problem
	for i, t := range ing.Spec.TLS {
		switch {
		case t.SecretName == "":
			probs = append(probs, problem{ReasonIngressUnsupported, fmt.Sprintf("tls[%d]: no secretName (there is no default certificate)", i)})
		case name == "":
			name = t.SecretName
		case t.SecretName != name:
			probs = append(probs, problem{ReasonIngressUnsupported, fmt.Sprintf("tls[%d]: Secret %s is ignored: the load balancer serves one certificate per Ingress (Secret %s); use one Ingress per certificate", i, t.SecretName, name)})
		}
	}
	return name, probs
}

// list returns the certificates of one Ingress.
func (c *ingressCerts) list(ctx context.Context, uid string) ([]ic.Certificate, error) {
	return c.listOwned(ctx, TagIngressUID, uid)
}

// listOwned returns the certificates whose owner tag uidTag is uid.
func (c *ingressCerts) listOwned(ctx context.Context, uidTag, uid string) ([]ic.Certificate, error) {
	var all []ic.Certificate
	for offset := 0; ; {
		resp, err := c.api.DescribeCertificates(ctx, &ic.DescribeCertificatesRequest{
			Tags: map[string]string{TagCluster: c.cluster, uidTag: uid},
			Page: ic.Page{Offset: offset, Limit: ic.MaxPageSize},
		})
		if err != nil {
			return nil, fmt.Errorf("DescribeCertificates: %w", err)
		}
		all = append(all, resp.Certificates...)
		offset += len(resp.Certificates)
		if len(resp.Certificates) == 0 || offset >= resp.TotalCount {
			return all, nil
		}
	}
}

// ensure returns the certificate id the HTTPS listener should use: the Secret's
// content, uploaded if new. A Secret that is missing or bad is a problem, not an error:
// the listener keeps current (the certificate it has now, "" for none), so bad input
// never takes a working HTTPS listener down. err is for IaaS failures (retried).
//
// have is the Ingress's certificates as listed before any upload, for prune once the
// listener no longer names them; nil when nothing was listed (no TLS and no HTTPS
// listener, or a bad Secret): then nothing is pruned, and a steady Ingress costs one
// Describe per sync with TLS and none without.
func (c *ingressCerts) ensure(ctx context.Context, ing *networkingv1.Ingress, current string) (certID string, have []ic.Certificate, probs []problem, err error) {
	name, probs := tlsSecretName(ing)
	if name == "" {
		if current == "" {
			return "", nil, probs, nil
		}
		// TLS was removed: the listener's certificate goes after the sync.
		have, err = c.list(ctx, string(ing.UID))
		return "", have, probs, err
	}
	keep := func(bad string) (string, []ic.Certificate, []problem, error) {
		msg := fmt.Sprintf("Secret %s/%s: %s", ing.Namespace, name, bad)
		if current != "" {
			msg += fmt.Sprintf("; HTTPS keeps certificate %s", current)
		} else {
			msg += "; no HTTPS listener until it is fixed"
		}
		return current, nil, append(probs, problem{ReasonIngressTLSInvalid, msg}), nil
	}
	o := certOwner{ns: ing.Namespace, name: ing.Name, uid: string(ing.UID), uidTag: TagIngressUID, nameTag: TagIngress}
	var listed bool
	id, bad, err := c.fromSecret(ctx, o, nsName{ing.Namespace, name}, &have, &listed)
	switch {
	case err != nil:
		return "", nil, probs, err
	case bad != "":
		return keep(bad)
	}
	return id, have, probs, nil
}

// certOwner is the Ingress or Gateway a certificate belongs to, and the tags that say so.
type certOwner struct {
	ns, name, uid   string
	uidTag, nameTag string // TagIngressUID/TagIngress or TagGatewayUID/TagGateway
}

// fromSecret returns the id of the certificate holding Secret secret for o, uploaded
// if no certificate of o holds that content yet. A Secret that is missing or bad gives
// bad (what is wrong, for a status or Event) and no API call; err is for IaaS failures.
// *have is o's certificates, listed once (on the first call that gets past the Secret
// checks, *listed then true) so a Gateway with several HTTPS listeners lists once.
func (c *ingressCerts) fromSecret(ctx context.Context, o certOwner, secret nsName, have *[]ic.Certificate, listed *bool) (id, bad string, err error) {
	s, err := c.secret(secret.ns, secret.name)
	if apierrors.IsNotFound(err) || (err == nil && s == nil) {
		return "", "not found", nil
	}
	if err != nil {
		return "", "", err
	}
	crt, key := s.Data[v1.TLSCertKey], s.Data[v1.TLSPrivateKeyKey]
	if len(crt) == 0 || len(key) == 0 {
		return "", fmt.Sprintf("needs %s and %s", v1.TLSCertKey, v1.TLSPrivateKeyKey), nil
	}
	// Checked here too, so a bad Secret costs no API call and says what is wrong.
	if _, perr := tls.X509KeyPair(crt, key); perr != nil {
		return "", fmt.Sprintf("%s and %s are not a matching PEM certificate and key: %v", v1.TLSCertKey, v1.TLSPrivateKeyKey, perr), nil
	}
	hash := secretHash(crt, key)
	if !*listed {
		if *have, err = c.listOwned(ctx, o.uidTag, o.uid); err != nil {
			return "", "", err
		}
		*listed = true
	}
	for _, ct := range *have {
		if ct.Tags[TagCertHash] == hash {
			return ct.CertificateID, "", nil
		}
	}
	req := &ic.UploadCertificateRequest{
		Name:           truncName(fmt.Sprintf("%s-%s-%s", c.cluster, secret.ns, secret.name)),
		CertificatePEM: string(crt), PrivateKeyPEM: string(key),
		Tags: map[string]string{
			TagCluster: c.cluster, o.uidTag: o.uid, o.nameTag: o.ns + "." + o.name,
			TagTLSSecret: secret.ns + "." + secret.name, TagCertHash: hash,
		},
	}
	// Same owner, same content: the same token, so a CCM killed after the upload
	// gets the same certificate back instead of a second one.
	sum := sha256.Sum256([]byte(o.uid + "\x00" + hash))
	req.ClientToken = "k8s-cert-" + hex.EncodeToString(sum[:16])
	resp, err := c.api.UploadCertificate(ctx, req)
	if errors.Is(err, ic.ErrInvalidParameter) {
		var e *ic.Error
		msg := err.Error()
		if errors.As(err, &e) {
			msg = e.Message
		}
		return "", "the IaaS refused the certificate: " + msg, nil
	}
	if err != nil {
		return "", "", fmt.Errorf("UploadCertificate: %w", err)
	}
	klog.InfoS("Uploaded certificate", "owner", o.nameTag, "namespace", o.ns, "name", o.name, "secret", secret, "certificate", resp.CertificateID)
	*have = append(*have, ic.Certificate{CertificateID: resp.CertificateID, Tags: req.Tags})
	return resp.CertificateID, "", nil
}

// prune deletes the certificates of have other than keep (none given, or "", deletes
// all). One still in use by a listener (ResourceInUse) is left for a later sync.
func (c *ingressCerts) prune(ctx context.Context, have []ic.Certificate, keep ...string) error {
	var errs []error
	for _, ct := range have {
		if slices.Contains(keep, ct.CertificateID) {
			continue
		}
		_, err := c.api.DeleteCertificate(ctx, &ic.DeleteCertificateRequest{CertificateID: ct.CertificateID})
		switch {
		case err == nil:
			klog.InfoS("Deleted certificate", "certificate", ct.CertificateID, "ingress", ct.Tags[TagIngress], "gateway", ct.Tags[TagGateway])
		case errors.Is(err, ic.ErrNotFound):
		default:
			errs = append(errs, fmt.Errorf("DeleteCertificate %s: %w", ct.CertificateID, err))
		}
	}
	return errors.Join(errs...)
}

func truncName(s string) string {
	if len(s) > 63 {
		s = s[:63]
	}
	return strings.TrimRight(s, "-.")
}
