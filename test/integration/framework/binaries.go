package framework

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// repoRoot is the checkout this module tests (it replaces the main module with ../..).
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// KubeBinDir returns the directory of kube-apiserver and etcd, building them with
// hack/build-kube.sh into the shared cache when they are missing (minutes, once).
func KubeBinDir() (string, error) {
	if d := os.Getenv("KUBE_IAAS_KUBE_BIN"); d != "" {
		return d, nil
	}
	script := filepath.Join(repoRoot(), "test", "integration", "hack", "build-kube.sh")
	cmd := exec.Command(script)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w", script, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// ProjectBinaries returns a directory with iaas-cloud-controller-manager and iaas-sim:
// $KUBE_IAAS_BIN when it has both (make build), else both built into tmp.
func ProjectBinaries(tmp string) (string, error) {
	if d := os.Getenv("KUBE_IAAS_BIN"); d != "" {
		if exists(filepath.Join(d, "iaas-cloud-controller-manager")) && exists(filepath.Join(d, "iaas-sim")) {
			return d, nil
		}
	}
	cmd := exec.Command("go", "build", "-o", tmp+"/", "./cmd/iaas-cloud-controller-manager", "./cmd/iaas-sim")
	cmd.Dir = repoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return tmp, nil
}

func exists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
