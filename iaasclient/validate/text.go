package validate

import (
	"fmt"
	"net/netip"
	"unicode/utf8"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// Limits of free-form fields and lists.
const (
	MaxNameLen        = 128
	MaxDescriptionLen = 255
	MaxTags           = 50
	MaxTagKeyLen      = 128
	MaxTagValueLen    = 256
	MaxIDsPerFilter   = 1000
	MaxBackends       = 1000
	MaxSourceRanges   = 100
	MaxHealthPathLen  = 1024
	// MaxInstancesPerCall is the most instances one Start/Stop/TerminateInstances names.
	MaxInstancesPerCall = 100
)

// Invalid is an InvalidParameter error about the field at path ("" is the whole body).
func Invalid(path, format string, args ...any) *iaasclient.Error {
	if path == "" {
		path = "body"
	}
	return iaasclient.Errorf(iaasclient.CodeInvalidParameter, "%s: %s", path, fmt.Sprintf(format, args...))
}

// InUse is a ResourceInUse error about the field at path.
func InUse(path, format string, args ...any) *iaasclient.Error {
	return iaasclient.Errorf(iaasclient.CodeResourceInUse, "%s: %s", path, fmt.Sprintf(format, args...))
}

// NotFound is the ResourceNotFound error for an id given in field; kind is what the id
// names ("disk", "load balancer").
func NotFound(field, kind, id string) *iaasclient.Error {
	return iaasclient.Errorf(iaasclient.CodeResourceNotFound, "%s: %s %q does not exist", field, kind, id)
}

// Required refuses an empty s.
func Required(field, s string) *iaasclient.Error {
	if s == "" {
		return Invalid(field, "is required")
	}
	return nil
}

// Truncate shortens a value quoted back in an error message.
func Truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// Name checks a resource name: at most MaxNameLen bytes of UTF-8 without control
// characters, and not empty when required.
func Name(field, s string, required bool) *iaasclient.Error {
	if required && s == "" {
		return Invalid(field, "is required")
	}
	return Text(field, s, MaxNameLen)
}

// NewName checks the name a Modify call sets (nil keeps the name): a name that is given
// is not empty, as the server's decoder also says for a "name": "" in any body.
func NewName(field string, s *string) *iaasclient.Error {
	if s == nil {
		return nil
	}
	if *s == "" {
		return Invalid(field, "must not be empty")
	}
	return Name(field, *s, true)
}

// Text checks a free-form string: valid UTF-8, at most max bytes, no control characters.
func Text(field, s string, max int) *iaasclient.Error {
	if !utf8.ValidString(s) {
		return Invalid(field, "must be valid UTF-8")
	}
	if len(s) > max {
		return Invalid(field, "longer than %d bytes", max)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return Invalid(field, "contains a control character")
		}
	}
	return nil
}

// Tags checks a tag set: at most MaxTags, keys not empty, keys and values text.
func Tags(field string, tags map[string]string) *iaasclient.Error {
	if len(tags) > MaxTags {
		return Invalid(field, "at most %d tags", MaxTags)
	}
	for k, v := range tags {
		p := fmt.Sprintf("%s[%q]", field, k)
		if k == "" {
			return Invalid(p, "tag key must not be empty")
		}
		if err := Text(p, k, MaxTagKeyLen); err != nil {
			return err
		}
		if err := Text(p, v, MaxTagValueLen); err != nil {
			return err
		}
	}
	return nil
}

// IDList checks a list of ids or names given as a filter or as the targets of a call.
func IDList(field string, ids []string) *iaasclient.Error {
	if len(ids) > MaxIDsPerFilter {
		return Invalid(field, "at most %d values", MaxIDsPerFilter)
	}
	for i, id := range ids {
		if err := Text(fmt.Sprintf("%s[%d]", field, i), id, MaxNameLen); err != nil {
			return err
		}
	}
	return nil
}

// NonEmptyIDList is IDList for a list that names at least one target; what is what the
// ids name ("route", "listener").
func NonEmptyIDList(field, what string, ids []string) *iaasclient.Error {
	if len(ids) == 0 {
		return Invalid(field, "at least one %s id is required", what)
	}
	return IDList(field, ids)
}

// IP parses an address (no zone); an IPv4-mapped IPv6 address becomes IPv4.
func IP(field, s string) (netip.Addr, *iaasclient.Error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, Invalid(field, "%q is not an IP address", Truncate(s))
	}
	return a.Unmap(), nil
}

// CIDR parses a network prefix in canonical form: a valid address, a prefix length in
// range, and no host bits set (10.244.1.0/24, not 10.244.1.5/24).
func CIDR(field, s string) (netip.Prefix, *iaasclient.Error) {
	if s == "" {
		return netip.Prefix{}, Invalid(field, "is required")
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, Invalid(field, "%q is not a CIDR", Truncate(s))
	}
	if p.Addr().Zone() != "" {
		return netip.Prefix{}, Invalid(field, "%q must not carry a zone", Truncate(s))
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, Invalid(field, "%q: use the IPv4 form", Truncate(s))
	}
	if p.Masked() != p {
		return netip.Prefix{}, Invalid(field, "%q has host bits set; the network is %s", Truncate(s), p.Masked())
	}
	return p, nil
}

// LooseCIDR parses a CIDR and allows host bits (as Kubernetes does for
// loadBalancerSourceRanges); it returns the masked prefix.
func LooseCIDR(field, s string) (netip.Prefix, *iaasclient.Error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || p.Addr().Zone() != "" {
		return netip.Prefix{}, Invalid(field, "%q is not a CIDR", Truncate(s))
	}
	return p.Masked(), nil
}

// MaxClientTokenLen is the longest client token.
const MaxClientTokenLen = 128

// ClientToken checks the client token of a create ("" is no token).
func ClientToken(token string) *iaasclient.Error {
	return Text("clientToken", token, MaxClientTokenLen)
}

// TokenMismatch is the answer for a client token reused with other parameters.
func TokenMismatch(token string) *iaasclient.Error {
	return iaasclient.Errorf(iaasclient.CodeIdempotentParameterMismatch, "clientToken: %q was used with different parameters", Truncate(token))
}
