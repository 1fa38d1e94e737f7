package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kube-iaas/kube-iaas/iaasclient"
	"github.com/kube-iaas/kube-iaas/test/iaassim/simproc"
)

const simConfig = `
region: sim-1
zones: [sim-1a]
tenants:
  - name: ops
    accessKeys: [{accessKeyId: AKOPS, secretKey: ops-secret}]
    adminCidrs: [127.0.0.1/32]
    vpcs: [{vpcId: vpc-ops, name: main, cidrBlock: 127.0.0.0/8}]
staticInstances:
  - {name: node-1, tenant: ops, zone: sim-1a, privateIps: [127.0.0.31]}
`

// TestAgainstSimulator drives the CLI as a user would, against the real simulator.
func TestAgainstSimulator(t *testing.T) {
	sim := simproc.Start(t, simproc.Options{ConfigYAML: []byte(simConfig), Args: []string{"--task-delay=10ms"}})
	credsFile := filepath.Join(t.TempDir(), "creds.yaml")
	if err := os.WriteFile(credsFile, []byte("accessKeyId: AKOPS\nsecretKey: ops-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"--endpoint", sim.APIURL, "--credentials", credsFile}
	call := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(append(append([]string{}, base...), args...), strings.NewReader(`{"names":["node-1"]}`), &out)
		return out.String(), err
	}

	out, err := call("DescribeInstances", "-")
	if err != nil {
		t.Fatal(err)
	}
	var di iaasclient.DescribeInstancesResponse
	if err := json.Unmarshal([]byte(out), &di); err != nil || di.TotalCount != 1 || di.Instances[0].Name != "node-1" {
		t.Fatalf("DescribeInstances from stdin: %v\n%s", err, out)
	}

	// Flags after the body, and --wait printing the finished task after the answer.
	out, err = call("CreateDisk", `{"name":"d1","zone":"sim-1a","sizeGiB":2}`, "--wait")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	var created iaasclient.CreateDiskResponse
	var task iaasclient.Task
	if err := dec.Decode(&created); err != nil || created.DiskID == "" {
		t.Fatalf("CreateDisk answer: %v\n%s", err, out)
	}
	if err := dec.Decode(&task); err != nil || task.State != iaasclient.TaskSucceeded || task.ResourceID != created.DiskID {
		t.Fatalf("--wait did not print the finished task: %v\n%s", err, out)
	}

	// An API refusal comes back as the typed error, so main exits with code 3.
	_, err = call("DeleteDisk", `{"diskId":"disk-does-not-exist"}`)
	if !errors.Is(err, iaasclient.ErrNotFound) {
		t.Fatalf("DeleteDisk of a missing disk: %v", err)
	}
	if _, err := call("NoSuchAction"); err == nil || iaasclient.CodeOf(err) != "" {
		t.Fatalf("unknown action: %v", err)
	}
	if _, err := call("DescribeDisks", "{not json"); err == nil {
		t.Fatal("invalid JSON body accepted")
	}
	// The metadata endpoint answers by source address, unsigned.
	var idOut bytes.Buffer
	if err := run([]string{"--endpoint", sim.APIURL, "--source-ip", "127.0.0.31", "identity"}, nil, &idOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(idOut.String(), `"name": "node-1"`) {
		t.Fatalf("identity from 127.0.0.31: %s", idOut.String())
	}
}
