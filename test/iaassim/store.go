package iaassim

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Bucket names of the bbolt file.
const (
	bucketInstances   = "instances"
	bucketRouteTables = "routeTables"
	bucketLBs         = "loadBalancers"
	bucketDisks       = "disks"
	bucketSnapshots   = "snapshots"
	bucketTasks       = "tasks"
	bucketTokens      = "clientTokens"
	bucketCerts       = "certificates"
	// bucketDiskAudit (audit.go) is outside the state maps: it is only appended to.
)

var allBuckets = []string{bucketInstances, bucketRouteTables, bucketLBs, bucketDisks, bucketSnapshots, bucketTasks, bucketTokens, bucketCerts, bucketDiskAudit}

// store is the durable copy of the state: one bbolt file, fsynced on every commit
// (NoSync stays false), so a commit that returned survives kill -9 and power loss.
type store struct {
	db *bolt.DB
}

func openStore(dir string) (*store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	path := filepath.Join(dir, "iaas-sim.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("opening %s (is another iaas-sim using this data dir?): %w", path, err)
	}
	db.NoSync = false
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &store{db: db}, nil
}

func (s *store) close() error { return s.db.Close() }

// op is one staged write: val nil deletes key.
type op struct {
	bucket string
	key    string
	val    []byte
	apply  func()
}

// loadAll calls fn for every record of bucket.
func loadAll[T any](s *store, bucket string, fn func(key string, v *T)) error {
	return s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucket)).ForEach(func(k, raw []byte) error {
			v := new(T)
			if err := json.Unmarshal(raw, v); err != nil {
				return fmt.Errorf("%s/%s: %w", bucket, k, err)
			}
			fn(string(k), v)
			return nil
		})
	})
}

// commit writes ops in one fsynced transaction.
func (s *store) commit(ops []op) error {
	if len(ops) == 0 {
		return nil
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, o := range ops {
			b := tx.Bucket([]byte(o.bucket))
			if o.val == nil {
				if err := b.Delete([]byte(o.key)); err != nil {
					return err
				}
				continue
			}
			if err := b.Put([]byte(o.key), o.val); err != nil {
				return err
			}
		}
		return nil
	})
}
