// Package testutil holds small helpers shared by the project's tests.
package testutil

import (
	"os"
	"testing"
)

// StrictEnv, when set to 1 (make test and CI set it), turns every "needs root" or
// "needs a tool" skip into a failure, so a CI run can never pass by skipping.
const StrictEnv = "KUBE_IAAS_STRICT"

// Strict reports whether skips for missing privileges or tools are failures.
func Strict() bool { return os.Getenv(StrictEnv) == "1" }

// RequireRoot skips t (or fails it under KUBE_IAAS_STRICT=1) unless the test runs as root.
// Under -short (make unit) it always skips: those tests run in their own tier of make test.
func RequireRoot(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs root; skipped under -short, make test runs it in its own tier")
	}
	if os.Geteuid() == 0 {
		return
	}
	if Strict() {
		t.Fatalf("this test needs root and %s=1 forbids skipping it", StrictEnv)
	}
	t.Skip("needs root (loop devices, network namespaces or mounts); make test runs it as root")
}

// Heavy skips t under -short (make unit): tests that start processes, build binaries or
// take more than a few seconds run in their own tier of make test.
func Heavy(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts real processes; skipped under -short, make test runs it in its own tier")
	}
}

// SkipOrFail skips t with reason, or fails it under KUBE_IAAS_STRICT=1.
func SkipOrFail(t testing.TB, reason string) {
	t.Helper()
	if Strict() {
		t.Fatalf("%s (and %s=1 forbids skipping)", reason, StrictEnv)
	}
	t.Skip(reason)
}
