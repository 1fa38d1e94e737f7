package csi

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// clientToken derives the IaaS idempotency token of a create from the CSI name and the
// parameters. The name makes a retry after a controller crash (between the IaaS
// accepting the create and the name tag being visible) return the disk already made;
// the parameters make a name reused with other parameters a new request instead of an
// IdempotentParameterMismatch.
func clientToken(kind string, parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return kind + "-" + hex.EncodeToString(h[:16])
}
