package csi

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

// TestRegistrationOverUnixSocket plays kubelet's plugin watcher against the real socket.
func TestRegistrationOverUnixSocket(t *testing.T) {
	dir := t.TempDir()
	sock := RegistrationSocket(dir)
	if filepath.Base(sock) != DriverName+"-reg.sock" {
		t.Fatalf("socket name %s", sock)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := NewRegistrationServer("/var/lib/kubelet/plugins/" + DriverName + "/csi.sock")
	served := make(chan error, 1)
	go func() { served <- r.Serve(ctx, sock) }()

	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := registerapi.NewRegistrationClient(conn)
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	defer ccancel()
	var info *registerapi.PluginInfo
	for info == nil {
		if info, err = c.GetInfo(cctx, &registerapi.InfoRequest{}, grpc.WaitForReady(true)); err != nil {
			t.Fatal(err)
		}
	}
	if info.GetType() != registerapi.CSIPlugin || info.GetName() != DriverName || info.GetEndpoint() != r.Endpoint || len(info.GetSupportedVersions()) == 0 {
		t.Errorf("info = %v", info)
	}
	if known, _, _ := r.Status(); known {
		t.Error("status known before kubelet said anything")
	}
	if _, err := c.NotifyRegistrationStatus(cctx, &registerapi.RegistrationStatus{PluginRegistered: false, Error: "version mismatch"}); err != nil {
		t.Fatal(err)
	}
	if known, ok, msg := r.Status(); !known || ok || msg != "version mismatch" {
		t.Errorf("status = %t %t %q", known, ok, msg)
	}
	if _, err := c.NotifyRegistrationStatus(cctx, &registerapi.RegistrationStatus{PluginRegistered: true}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := r.Status(); !ok {
		t.Error("not registered after kubelet said so")
	}
	cancel()
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after ctx ended")
	}
}
