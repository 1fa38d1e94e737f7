// Command demo-backend is the web server make demo runs inside each instance: it answers
// every request with the instance's name, so traffic spread by a load balancer is visible.
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
	name := flag.String("name", "", "name to answer with (default: the hostname)")
	flag.Parse()
	if *name == "" {
		*name, _ = os.Hostname()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s (you are %s)\n", *name, r.RemoteAddr)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	klog.InfoS("Serving", "address", *listen, "name", *name)
	if err := srv.ListenAndServe(); err != nil {
		klog.ErrorS(err, "Serving failed")
		os.Exit(1)
	}
}
