package cloudprovider

import (
	"fmt"
	"strings"
)

// ProviderName is the name the provider registers under (--cloud-provider=iaas).
const ProviderName = "iaas"

const providerIDPrefix = ProviderName + "://"

// ProviderID formats the providerID of an instance: iaas:///<zone>/<instance-id>. The
// zone is in it (like GCE's) so that tools can read a node's zone without an API call.
func ProviderID(zone, instanceID string) string {
	return providerIDPrefix + "/" + zone + "/" + instanceID
}

// ParseProviderID returns the instance id of a providerID. It accepts the canonical
// iaas:///<zone>/<id> and the short iaas:///<id> and iaas://<id> that hand-made nodes use.
func ParseProviderID(providerID string) (string, error) {
	rest, ok := strings.CutPrefix(providerID, providerIDPrefix)
	if !ok {
		return "", fmt.Errorf("providerID %q is not of provider %q", providerID, ProviderName)
	}
	parts := strings.Split(strings.TrimPrefix(rest, "/"), "/")
	id := parts[len(parts)-1]
	if len(parts) > 2 || !strings.HasPrefix(id, "ins-") || len(id) == len("ins-") {
		return "", fmt.Errorf("providerID %q: want %s/<zone>/ins-…", providerID, providerIDPrefix)
	}
	return id, nil
}
