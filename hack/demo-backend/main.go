// Command demo-backend is the web server of make demo: it answers every request with
// its name (the pod or instance), so traffic spread by a load balancer is visible. With
// --data-dir it also counts visits in a file there, fsync'd before it answers, so a
// count that keeps growing after the pod moved to another node shows that its network
// disk moved with it.
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"k8s.io/klog/v2"
)

func main() {
	listen := flag.String("listen", ":8080", "address to serve on")
	name := flag.String("name", "", "name to answer with (default: $POD_NAME, else the hostname)")
	dataDir := flag.String("data-dir", "", "directory (a mounted volume) to count visits in; empty: no counting")
	flag.Parse()
	if *name == "" {
		*name = os.Getenv("POD_NAME")
	}
	if *name == "" {
		*name, _ = os.Hostname()
	}
	where := *name
	if node := os.Getenv("NODE_NAME"); node != "" {
		where += " on node " + node
	}
	var visits *counter
	if *dataDir != "" {
		var err error
		if visits, err = openCounter(*dataDir); err != nil {
			klog.ErrorS(err, "Opening the visit counter", "dir", *dataDir)
			os.Exit(1)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if visits == nil {
			fmt.Fprintf(w, "hello from %s (you are %s)\n", where, r.RemoteAddr)
			return
		}
		n, first, err := visits.add(where)
		if err != nil {
			klog.ErrorS(err, "Counting a visit")
			http.Error(w, "cannot write to the volume: "+err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "hello from %s: visit %d, counted on the volume at %s (first visit served by %s)\n", where, n, *dataDir, first)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	klog.InfoS("Serving", "address", *listen, "name", where, "dataDir", *dataDir)
	if err := srv.ListenAndServe(); err != nil {
		klog.ErrorS(err, "Serving failed")
		os.Exit(1)
	}
}
