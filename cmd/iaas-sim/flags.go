package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"github.com/kube-iaas/kube-iaas/test/iaassim"
)

type options struct {
	configPath            string
	dataDir               string
	listen                string
	adminListen           string
	adminTokenFile        string
	adminInsecureLoopback bool
	readyFile             string
	tls                   tlsOptions
	taskDelay             time.Duration
	routeLimit            int
	instanceSyncInterval  time.Duration
	timeoutFaultDelay     time.Duration
	faults                faultFlags
	dataPlane             *dataPlaneFlags
}

const usageHeader = `iaas-sim: the simulated IaaS of kube-iaas.

It serves the IaaS API (POST /v1/<Action>, see iaasclient/API.md) and the metadata
endpoint (GET /meta/v1/identity) on --listen, and the admin API (faults, counters,
static instances, /metrics) on --admin-listen. State lives in --data-dir (bbolt, fsynced;
kill -9 loses nothing acknowledged). Tenants, VPCs, route tables, quotas and static
instances come from --config (YAML or JSON; see cmd/iaas-sim/example-config.yaml).

Usage: iaas-sim --config FILE --data-dir DIR [flags]

Flags:
`

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("iaas-sim", flag.ContinueOnError)
	fs.StringVar(&o.configPath, "config", "", "Config file (YAML or JSON): tenants with access keys and admin CIDRs, VPCs, route tables, quotas, static instances, faults. Required.")
	fs.StringVar(&o.dataDir, "data-dir", "", "Directory of the state (iaas-sim.db, static-instances.json). Required; reuse it to keep state across restarts.")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:7780", "Address of the API and metadata endpoint; port 0 picks a free port (see --ready-file).")
	fs.StringVar(&o.adminListen, "admin-listen", "127.0.0.1:7781", "Address of the admin API and /metrics: host:port (callers need the bearer token of --admin-token-file) or unix:PATH (a socket of mode 0600, which is the credential).")
	fs.StringVar(&o.adminTokenFile, "admin-token-file", "", "File of the admin API's bearer token (mode 0600; created with a random token if missing). Default <data-dir>/admin-token.")
	fs.BoolVar(&o.adminInsecureLoopback, "admin-insecure-loopback", false, "Serve the admin API on a loopback TCP address without a token. Only for a machine where every local user and instance may own the simulator.")
	fs.StringVar(&o.readyFile, "ready-file", "", "Once serving, write {api, apiURL, admin, adminURL, adminTokenFile, pid} as JSON to this file (atomically).")
	fs.StringVar(&o.tls.cert, "tls-cert", "", "PEM certificate of the API listener; with --tls-key serves HTTPS (TLS 1.2+).")
	fs.StringVar(&o.tls.key, "tls-key", "", "PEM private key of --tls-cert.")
	fs.StringVar(&o.tls.clientCA, "tls-client-ca", "", "PEM CA bundle; when set, API clients must present a certificate signed by it (mutual TLS).")
	fs.DurationVar(&o.taskDelay, "task-delay", -1, "Delay before an async task runs (e.g. 100ms, 0 for none); -1 keeps the config's taskDelay (default 100ms).")
	fs.IntVar(&o.routeLimit, "route-limit", 0, "Routes per route table, for every table (overrides the config); 0 keeps the config's routeLimit (default 50).")
	fs.DurationVar(&o.instanceSyncInterval, "instance-sync-interval", 0, "How often the instance backend is listed; 0 keeps the config's value (default 2s).")
	fs.DurationVar(&o.timeoutFaultDelay, "timeout-fault-delay", 0, "How long an injected timeout holds the response before dropping the connection; 0 keeps the config's value (default 60s).")
	fs.Var(&o.faults, "fault", "Fault injection, repeatable: ACTION:key=value,... with keys errorRate, throttleRate, timeoutRate (0..1), latency (duration), retryAfterSeconds. ACTION * applies to every action without its own entry; Identity is the metadata endpoint. Example: --fault 'CreateDisk:errorRate=0.3,latency=20ms'.")
	o.dataPlane = registerDataPlaneFlags(fs)
	klogFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(klogFlags)
	fs.Var(klogFlags.Lookup("v").Value, "v", "Log verbosity (klog): 2 logs every task, 4 every request.")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageHeader)
		fs.PrintDefaults()
	}
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q (every setting is a flag; see --help)", fs.Args())
	}
	if o.configPath == "" {
		return nil, fmt.Errorf("--config is required (see --help)")
	}
	if o.dataDir == "" {
		return nil, fmt.Errorf("--data-dir is required (see --help)")
	}
	if (o.tls.cert == "") != (o.tls.key == "") {
		return nil, fmt.Errorf("--tls-cert and --tls-key go together")
	}
	if o.tls.clientCA != "" && o.tls.cert == "" {
		return nil, fmt.Errorf("--tls-client-ca needs --tls-cert and --tls-key")
	}
	if o.routeLimit < 0 {
		return nil, fmt.Errorf("--route-limit: must not be negative")
	}
	return o, nil
}

// applyTo lets flags override the config.
func (o *options) applyTo(cfg *iaassim.Config) error {
	if o.taskDelay >= 0 {
		cfg.TaskDelay = &iaassim.Duration{Duration: o.taskDelay}
	}
	if o.routeLimit > 0 {
		cfg.RouteLimit = o.routeLimit
		for i := range cfg.Tenants {
			for j := range cfg.Tenants[i].Vpcs {
				for k := range cfg.Tenants[i].Vpcs[j].RouteTables {
					// Tables whose limit came from the default follow the flag.
					cfg.Tenants[i].Vpcs[j].RouteTables[k].RouteLimit = 0
				}
			}
		}
	}
	if o.instanceSyncInterval > 0 {
		cfg.InstanceSyncInterval = &iaassim.Duration{Duration: o.instanceSyncInterval}
	}
	if o.timeoutFaultDelay > 0 {
		cfg.TimeoutFaultDelay = &iaassim.Duration{Duration: o.timeoutFaultDelay}
	}
	if len(o.faults) > 0 && cfg.Faults == nil {
		cfg.Faults = map[string]iaassim.FaultSpec{}
	}
	for a, f := range o.faults {
		cfg.Faults[a] = f
	}
	return cfg.Validate()
}

// faultFlags collects --fault values.
type faultFlags map[string]iaassim.FaultSpec

func (f *faultFlags) String() string { return "" }

func (f *faultFlags) Set(v string) error {
	action, spec, ok := strings.Cut(v, ":")
	if !ok || action == "" {
		return fmt.Errorf("want ACTION:key=value,..., got %q", v)
	}
	var fs iaassim.FaultSpec
	for _, kv := range strings.Split(spec, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return fmt.Errorf("%s: want key=value, got %q", action, kv)
		}
		var err error
		switch k {
		case "errorRate":
			fs.ErrorRate, err = strconv.ParseFloat(val, 64)
		case "throttleRate":
			fs.ThrottleRate, err = strconv.ParseFloat(val, 64)
		case "timeoutRate":
			fs.TimeoutRate, err = strconv.ParseFloat(val, 64)
		case "retryAfterSeconds":
			fs.RetryAfterSeconds, err = strconv.Atoi(val)
		case "latency":
			var d time.Duration
			d, err = time.ParseDuration(val)
			fs.Latency = &iaassim.Duration{Duration: d}
		default:
			return fmt.Errorf("%s: unknown key %q (errorRate, throttleRate, timeoutRate, latency, retryAfterSeconds)", action, k)
		}
		if err != nil {
			return fmt.Errorf("%s: %s: %v", action, k, err)
		}
	}
	if *f == nil {
		*f = faultFlags{}
	}
	(*f)[action] = fs
	return nil
}
