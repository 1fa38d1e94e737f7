package framework

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

// GatewayAPIModule is the module whose CRDs InstallGatewayAPI applies: the one the
// CCM is built against (go.mod), read from the module cache, never copied into the repo.
const GatewayAPIModule = "sigs.k8s.io/gateway-api"

// GatewayAPICRDDir is the standard-channel CRD directory of the Gateway API module in
// the module cache ($KUBE_IAAS_GATEWAY_API_CRDS overrides it).
func GatewayAPICRDDir() (string, error) {
	if d := os.Getenv("KUBE_IAAS_GATEWAY_API_CRDS"); d != "" {
		return d, nil
	}
	// go list answers for the module of the working directory (test/integration),
	// which requires the same version as the main module.
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", GatewayAPIModule).Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w", GatewayAPIModule, err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", fmt.Errorf("%s is not in the module cache (go mod download)", GatewayAPIModule)
	}
	return filepath.Join(dir, "config", "crd", "standard"), nil
}

// InstallGatewayAPI creates the Gateway API CRDs the CCM's Gateway controller uses and
// waits until the apiserver serves them. It runs before the CCM starts: the CCM looks
// for them once, when it starts.
func InstallGatewayAPI(t TB, k *Kube) {
	t.Helper()
	dir, err := GatewayAPICRDDir()
	if err != nil {
		t.Fatalf("Gateway API CRDs: %v", err)
	}
	dyn, err := dynamic.NewForConfig(k.Config)
	if err != nil {
		t.Fatalf("dynamic client: %v", err)
	}
	crds := dyn.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	ctx := context.Background()
	for _, r := range []string{"gatewayclasses", "gateways", "httproutes", "referencegrants"} {
		data, err := os.ReadFile(filepath.Join(dir, "gateway.networking.k8s.io_"+r+".yaml"))
		if err != nil {
			t.Fatalf("Gateway API CRD: %v", err)
		}
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(data, &obj.Object); err != nil {
			t.Fatalf("CRD %s: %v", r, err)
		}
		if _, err := crds.Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating CRD %s: %v", r, err)
		}
	}
	err = Eventually(60*time.Second, func() error {
		list, err := k.Client.Discovery().ServerResourcesForGroupVersion("gateway.networking.k8s.io/v1")
		if err != nil {
			return err
		}
		have := map[string]bool{}
		for _, r := range list.APIResources {
			have[r.Name] = true
		}
		for _, r := range []string{"gatewayclasses", "gateways", "httproutes", "gateways/status", "httproutes/status"} {
			if !have[r] {
				return fmt.Errorf("%s not served yet", r)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Gateway API CRDs not served: %v", err)
	}
}
