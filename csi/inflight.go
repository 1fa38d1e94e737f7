package csi

import (
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// inFlight holds the keys of operations that are running. A sidecar retries an RPC whose
// deadline passed while the first call still runs; answering the duplicate Aborted
// (instead of running it too) keeps two attach or create calls for one volume from
// racing each other, and the sidecar retries it later with backoff.
type inFlight struct {
	mu   sync.Mutex
	keys map[string]struct{}
}

func newInFlight() *inFlight { return &inFlight{keys: map[string]struct{}{}} }

// begin claims key; the caller must call the returned release when it is done.
// It answers Aborted when key is already claimed.
func (f *inFlight) begin(key string) (release func(), err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, busy := f.keys[key]; busy {
		return nil, status.Errorf(codes.Aborted, "an operation on %s is already in progress", key)
	}
	f.keys[key] = struct{}{}
	return func() {
		f.mu.Lock()
		delete(f.keys, key)
		f.mu.Unlock()
	}, nil
}
