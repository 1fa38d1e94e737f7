// Command iaasctl calls the IaaS API from a shell: every action, signed with a tenant's
// access key, the answer printed as JSON. Async actions can wait for their task.
//
//	iaasctl --endpoint http://127.0.0.1:7780 --credentials creds.yaml DescribeInstances
//	iaasctl ... CreateDisk '{"name":"d1","zone":"sim-1a","sizeGiB":10}' --wait
//	echo '{"diskIds":["disk-1"]}' | iaasctl ... DescribeDisks -
//	iaasctl ... identity        # the metadata endpoint: who am I
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "iaasctl:", err)
		if iaasclient.CodeOf(err) != "" {
			os.Exit(3) // the API refused: distinguishable from usage errors in scripts
		}
		os.Exit(1)
	}
}

type options struct {
	endpoint, credentials, sourceIP string
	wait                            bool
	timeout                         time.Duration
}

func usage(fs *flag.FlagSet) func() {
	return func() {
		fmt.Fprintf(fs.Output(), "usage: iaasctl [flags] <Action|identity|actions> [json-body | -]\n\nflags:\n")
		fs.PrintDefaults()
	}
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("iaasctl", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.endpoint, "endpoint", os.Getenv("IAAS_ENDPOINT"), "API base URL (env IAAS_ENDPOINT).")
	fs.StringVar(&o.credentials, "credentials", os.Getenv("IAAS_CREDENTIALS"), "credentials file, YAML or JSON {accessKeyId, secretKey} (env IAAS_CREDENTIALS).")
	fs.StringVar(&o.sourceIP, "source-ip", os.Getenv("IAAS_SOURCE_IP"), "source address of the connection; the IaaS admits only its tenant's instance and admin addresses (env IAAS_SOURCE_IP).")
	fs.BoolVar(&o.wait, "wait", false, "for an action that starts a task, wait until the task ends and print it too.")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "give up after this long.")
	fs.Usage = usage(fs)
	// Flags may follow the action, as in `iaasctl CreateDisk '{...}' --wait`.
	var positional []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(positional) == 0 || len(positional) > 2 {
		fs.Usage()
		return errors.New("want an action and at most one JSON body")
	}
	action := positional[0]
	if action == "actions" {
		_, err := fmt.Fprintln(stdout, strings.Join(iaasclient.Actions, "\n"))
		return err
	}
	if o.endpoint == "" {
		return errors.New("--endpoint (or IAAS_ENDPOINT) is required")
	}
	cfg := iaasclient.Config{Endpoint: o.endpoint, LocalAddr: o.sourceIP, UserAgent: "iaasctl"}
	if action != "identity" {
		if o.credentials == "" {
			return errors.New("--credentials (or IAAS_CREDENTIALS) is required for API actions")
		}
		creds, err := iaasclient.LoadCredentialsFile(o.credentials)
		if err != nil {
			return err
		}
		cfg.Credentials = creds
	}
	c, err := iaasclient.New(cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	if action == "identity" {
		id, err := c.Identity(ctx)
		if err != nil {
			return err
		}
		return printJSON(stdout, id)
	}
	if !slices.Contains(iaasclient.Actions, action) {
		return fmt.Errorf("unknown action %q (iaasctl actions lists them)", action)
	}
	body, err := readBody(positional[1:], stdin)
	if err != nil {
		return err
	}
	out, err := c.Raw(ctx, action, body)
	if err != nil {
		return err
	}
	if err := printJSON(stdout, out); err != nil {
		return err
	}
	return waitIfAsked(ctx, c, o.wait, out, stdout)
}

func readBody(arg []string, stdin io.Reader) (json.RawMessage, error) {
	if len(arg) == 0 {
		return nil, nil
	}
	b := []byte(arg[0])
	if arg[0] == "-" {
		var err error
		if b, err = io.ReadAll(io.LimitReader(stdin, iaasclient.MaxRequestBodyBytes+1)); err != nil {
			return nil, err
		}
	}
	if !json.Valid(b) {
		return nil, errors.New("the request body is not valid JSON")
	}
	return b, nil
}

func waitIfAsked(ctx context.Context, c *iaasclient.Client, wait bool, out json.RawMessage, stdout io.Writer) error {
	if !wait {
		return nil
	}
	var started struct {
		TaskID string `json:"taskId"`
	}
	if err := json.Unmarshal(out, &started); err != nil || started.TaskID == "" {
		return nil // not an async action: nothing to wait for
	}
	task, err := c.WaitTask(ctx, started.TaskID)
	if task != nil {
		if perr := printJSON(stdout, task); perr != nil {
			return perr
		}
	}
	return err
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
