package docker

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kube-iaas/kube-iaas/iaasclient"
)

// fakeDocker is the slice of the Docker Engine API the backend uses.
type fakeDocker struct {
	mu      sync.Mutex
	running map[string]bool
	labels  map[string]string
	filters []string
}

func (f *fakeDocker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	notFound := func() {
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]string{"message": "No such container"})
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/containers/json":
		f.filters = append(f.filters, r.URL.Query().Get("filters"))
		var out []map[string]string
		for id := range f.running {
			out = append(out, map[string]string{"Id": id})
		}
		json.NewEncoder(w).Encode(out)
	case r.Method == http.MethodGet && len(parts) == 3 && parts[2] == "json":
		run, ok := f.running[parts[1]]
		if !ok {
			notFound()
			return
		}
		c := map[string]any{"Id": parts[1], "Name": "/" + parts[1] + "-node",
			"State":           map[string]any{"Running": run, "Pid": map[bool]int{true: 4242}[run]},
			"NetworkSettings": map[string]any{"Networks": map[string]any{"kind": map[string]string{"IPAddress": "172.18.0." + f.labels[parts[1]]}}}}
		json.NewEncoder(w).Encode(c)
	case r.Method == http.MethodPost && len(parts) == 3:
		run, ok := f.running[parts[1]]
		if !ok {
			notFound()
			return
		}
		want := parts[2] == "start"
		if run == want {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		f.running[parts[1]] = want
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodDelete && len(parts) == 2:
		if _, ok := f.running[parts[1]]; !ok {
			notFound()
			return
		}
		delete(f.running, parts[1])
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusTeapot)
	}
}

func TestDockerBackend(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakeDocker{running: map[string]bool{"c1": true, "c2": false}, labels: map[string]string{"c1": "2", "c2": "3"}}
	srv := httptest.NewUnstartedServer(fake)
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	ctx := context.Background()
	b := New(Config{Socket: sock, Label: KindClusterLabel + "=test", Zone: "z1"})

	list, err := b.List(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %v %v", list, err)
	}
	if fake.filters[0] != `{"label":["io.x-k8s.kind.cluster=test"]}` {
		t.Fatalf("filters %q", fake.filters[0])
	}
	byKey := map[string]iaasclient.InstanceState{}
	for _, i := range list {
		byKey[i.Key] = i.State
		if i.Key == "c1" && (i.Name != "c1-node" || i.PrivateIPs[0] != "172.18.0.2" || i.Zone != "z1") {
			t.Fatalf("c1: %+v", i)
		}
	}
	if byKey["c1"] != iaasclient.InstanceRunning || byKey["c2"] != iaasclient.InstanceStopped {
		t.Fatalf("states %v", byKey)
	}
	if pid, err := b.PID(ctx, "c1"); err != nil || pid != 4242 {
		t.Fatalf("pid %d %v", pid, err)
	}
	if err := b.Stop(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if err := b.Stop(ctx, "c1"); err != nil { // 304: already stopped
		t.Fatalf("stop twice: %v", err)
	}
	if pid, _ := b.PID(ctx, "c1"); pid != 0 {
		t.Fatalf("stopped container has pid %d", pid)
	}
	if err := b.Start(ctx, "c2"); err != nil {
		t.Fatal(err)
	}
	if err := b.Terminate(ctx, "c2"); err != nil {
		t.Fatal(err)
	}
	if err := b.Terminate(ctx, "c2"); err != nil {
		t.Fatalf("terminate twice: %v", err)
	}
	if err := b.Start(ctx, "gone"); !errors.Is(err, iaasclient.ErrNotFound) {
		t.Fatalf("start of a missing container: %v", err)
	}
}
