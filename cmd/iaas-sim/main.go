// Command iaas-sim is the simulated IaaS: the kube-iaas IaaS API (iaasclient/API.md)
// with tenancy, async tasks, fault injection and metrics, state in bbolt, and a data
// plane behind test/iaassim/dataplane.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"github.com/kube-iaas/kube-iaas/test/iaassim"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		klog.ErrorS(err, "iaas-sim failed")
		klog.Flush()
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) > 0 && args[0] == detachDisksCommand {
		return runDetachDisks(context.Background(), args[1:])
	}
	opts, err := parseFlags(args)
	if err != nil {
		return err
	}
	cfg, err := iaassim.LoadConfig(opts.configPath)
	if err != nil {
		return err
	}
	if err := opts.applyTo(cfg); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	logger := klog.Background().WithName("iaas-sim")
	ctx = klog.NewContext(ctx, logger)

	dp, cleanup, err := buildDataPlane(ctx, opts.dataPlane, cfg, opts.dataDir)
	if err != nil {
		return err
	}
	defer cleanup()
	simOpts := iaassim.Options{DataDir: opts.dataDir, DataPlane: dp}
	sim, err := iaassim.New(ctx, cfg, simOpts)
	if err != nil {
		return err
	}
	defer func() {
		if err := sim.Close(); err != nil {
			logger.Error(err, "Closing the store failed")
		}
	}()

	apiLn, err := listen(opts.listen, opts.tls)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	adm, err := listenAdmin(opts)
	if err != nil {
		apiLn.Close()
		return err
	}
	adminLn := adm.ln
	apiSrv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	adminSrv := &http.Server{Handler: iaassim.AdminAuth(sim.AdminHandler(), adm.token), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 2)
	go func() { errc <- serve(apiSrv, apiLn) }()
	go func() { errc <- serve(adminSrv, adminLn) }()

	scheme := "http"
	if opts.tls.enabled() {
		scheme = "https"
	}
	ready := readyInfo{
		API: apiLn.Addr().String(), APIURL: scheme + "://" + apiLn.Addr().String(),
		Admin: adminLn.Addr().String(), AdminURL: adm.url, AdminTokenFile: adm.tokenFile, PID: os.Getpid(),
	}
	logger.Info("Serving", "api", ready.APIURL, "admin", ready.AdminURL, "dataDir", opts.dataDir)
	if opts.readyFile != "" {
		if err := writeReadyFile(opts.readyFile, ready); err != nil {
			return fmt.Errorf("--ready-file: %w", err)
		}
	}

	var serveErr error
	select {
	case <-ctx.Done():
		logger.Info("Shutting down")
	case serveErr = <-errc:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range []*http.Server{apiSrv, adminSrv} {
		if err := srv.Shutdown(shutdownCtx); err != nil {
			srv.Close()
		}
	}
	return serveErr
}

func serve(srv *http.Server, ln net.Listener) error {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
