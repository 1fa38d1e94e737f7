// Package integration runs the real iaas-cloud-controller-manager against a real
// kube-apiserver and etcd (built from the Go module proxy) and the real iaas-sim with
// static instances. There is no kubelet: tests create Node objects and play the parts
// of the kubelet and of kube-controller-manager (Ready condition, pod CIDR) themselves.
package integration

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/kube-iaas/kube-iaas/test/integration/framework"
)

// env is shared by the tests of the package: one control plane, one simulator, one
// CCM. Tests use distinct node and Service names and run one at a time.
var env struct {
	// cleaner outlives single tests: processes restarted by a test belong to it.
	cleaner *framework.Cleaner
	dir     string
	bin     string
	kube    *framework.Kube
	sim     *framework.Sim
	ccm     *framework.CCM
}

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("integration tier skipped under -short")
		os.Exit(0)
	}
	os.Exit(run(m))
}

func run(m *testing.M) (code int) {
	c := &framework.Cleaner{}
	env.cleaner = c
	defer c.Run()
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "integration setup failed: %v\n", r)
			code = 1
		}
	}()
	dir, err := os.MkdirTemp("", "kube-iaas-integration-")
	if err != nil {
		panic(err)
	}
	env.dir = dir
	kubeBin, err := framework.KubeBinDir()
	if err != nil {
		panic(err)
	}
	if env.bin, err = framework.ProjectBinaries(filepath.Join(dir, "bin")); err != nil {
		panic(err)
	}
	env.kube = framework.StartKube(c, kubeBin, dir)
	// Before the CCM: its Gateway controller runs only if the API is there at start.
	framework.InstallGatewayAPI(c, env.kube)
	env.sim = framework.StartSim(c, filepath.Join(env.bin, "iaas-sim"), dir, framework.SimConfig(2000) /* raised for the route benchmark */)
	cloudConfig := framework.CloudConfig(env.sim, env.sim.CredentialsFile(c))
	if d := os.Getenv("KUBE_IAAS_BACKEND_UPDATE_DELAY"); d != "" {
		// For the LB update storm benchmark: 0s measures the CCM without coalescing.
		cloudConfig += "loadBalancer: {backendUpdateDelay: " + d + "}\n"
	}
	env.ccm = framework.StartCCM(c, filepath.Join(env.bin, "iaas-cloud-controller-manager"), dir, env.kube, cloudConfig)
	code = m.Run()
	if code != 0 {
		for _, p := range []*framework.Proc{env.ccm.Proc, env.sim.Proc} {
			fmt.Fprintf(os.Stderr, "---- %s log (pid %d) ----\n%s\n", p.Name, p.PID(), p.Tail(6000))
		}
		fmt.Fprintf(os.Stderr, "logs kept in %s\n", dir)
		return code
	}
	if os.Getenv("KUBE_IAAS_KEEP_LOGS") != "" {
		fmt.Fprintf(os.Stderr, "logs kept in %s\n", dir)
		return code
	}
	defer os.RemoveAll(dir)
	return code
}
