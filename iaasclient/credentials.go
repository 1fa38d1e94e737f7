package iaasclient

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

// LoadCredentialsFile reads a tenant's access key from a YAML or JSON file (JSON is
// YAML) of the form {accessKeyId: ..., secretKey: ...}, as mounted from a Secret.
// Unknown fields are refused so that a typo ("secretkey") is not read as an empty key.
func LoadCredentialsFile(path string) (Credentials, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Credentials{}, fmt.Errorf("credentials file: %w", err)
	}
	return ParseCredentials(data, path)
}

// ParseCredentials parses the content of a credentials file; source names it in
// errors.
func ParseCredentials(data []byte, source string) (Credentials, error) {
	var c Credentials
	if len(bytes.TrimSpace(data)) == 0 {
		return c, fmt.Errorf("credentials file %s: empty", source)
	}
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return Credentials{}, fmt.Errorf("credentials file %s: %w", source, err)
	}
	// Secrets written with a trailing newline (echo > file) are common; the
	// newline is never part of a key.
	c.AccessKeyID = strings.TrimSpace(c.AccessKeyID)
	c.SecretKey = strings.TrimSpace(c.SecretKey)
	if c.AccessKeyID == "" {
		return Credentials{}, fmt.Errorf("credentials file %s: accessKeyId: required", source)
	}
	if c.SecretKey == "" {
		return Credentials{}, fmt.Errorf("credentials file %s: secretKey: required", source)
	}
	return c, nil
}
