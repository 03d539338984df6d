package storjtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"storj.io/common/memory"
	"storj.io/common/testcontext"
	"storj.io/storj/private/testplanet"
	"storj.io/storj/satellite"
	"storj.io/storj/storagenode"
	"storj.io/uplink"

	"github.com/dfsreg/dfsreg/internal/serve/servetest"
	"github.com/dfsreg/dfsreg/internal/store"
	"github.com/dfsreg/dfsreg/internal/store/storetest"
	"github.com/dfsreg/dfsreg/internal/store/storj"
)

// TestStorj starts one Storj network (one satellite on PostgreSQL, four
// storage nodes) and runs every Storj test on it. Without
// STORJ_TEST_POSTGRES testplanet skips it (see .ci/postgres).
func TestStorj(t *testing.T) {
	testplanet.Run(t, planetConfig(time.Hour), func(t *testing.T, ctx *testcontext.Context, planet *testplanet.Planet) {
		e := newEnv(t, ctx, planet)
		t.Run("Startup", e.testStartup)
		t.Run("Backend", func(t *testing.T) { storetest.RunBackend(t, e.newBackend) })
		t.Run("Store", func(t *testing.T) { storetest.RunStore(t, e.newStore) })
		t.Run("Battery", func(t *testing.T) { servetest.RunBattery(t, e.newStore) })
		t.Run("MultipartResume", e.testMultipartResume)
		t.Run("CrashAfterPartUpload", e.testCrashAfterPartUpload)
		t.Run("StoreRestart", e.testStoreRestart)
		t.Run("AbortAndExpire", e.testAbortAndExpire)
		t.Run("CommitRetry", e.testCommitRetry)
		t.Run("TransientFaults", e.testTransientFaults)
		t.Run("FaultsBeyondRetries", e.testFaultsBeyondRetries)
		t.Run("RangeRead", e.testRangeRead)
		t.Run("Serve", e.testServe)
	})
}

// planetConfig: one satellite, four storage nodes, one uplink (for its
// access grant); the network is shut down after timeout (testplanet's
// default is 3 minutes, too short for the whole suite).
func planetConfig(timeout time.Duration) testplanet.Config {
	return testplanet.Config{
		SatelliteCount: 1, StorageNodeCount: 4, UplinkCount: 1, Timeout: timeout,
		Reconfigure: testplanet.Reconfigure{Satellite: func(log *zap.Logger, index int, config *satellite.Config) {
			// testplanet accepts parts of any size; production satellites
			// reject non-final parts under 5 MiB, and so must this one.
			config.Metainfo.MinPartSize = storj.MinPartSize * memory.B
			// A fresh bucket per subtest.
			config.Metainfo.ProjectLimits.MaxBuckets = 1000
		}, StorageNode: func(index int, config *storagenode.Config) {
			// testplanet's nodes hold 1 GB each, and with 4 nodes every
			// segment is stored 3 times whole: a 1 GiB blob would not fit.
			config.Storage.AllocatedDiskSpace = 16 * memory.GB
		}},
	}
}

// env is the network the tests share.
type env struct {
	ctx     *testcontext.Context
	planet  *testplanet.Planet
	access  *uplink.Access
	grant   string
	project *uplink.Project // for looking at what the backend left in Storj
	buckets atomic.Int64
}

func newEnv(t *testing.T, ctx *testcontext.Context, planet *testplanet.Planet) *env {
	sat := planet.Satellites[0]
	access := planet.Uplinks[0].Access[sat.ID()]
	grant, err := access.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	project, err := uplink.OpenProject(ctx, access)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { project.Close() })
	return &env{ctx: ctx, planet: planet, access: access, grant: grant, project: project}
}

// newBucket creates an empty bucket.
func (e *env) newBucket(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("bucket-%d", e.buckets.Add(1))
	if _, err := e.project.CreateBucket(e.ctx, name); err != nil {
		t.Fatalf("creating bucket %s: %v", name, err)
	}
	return name
}

// config is a backend configuration on a new bucket with the smallest part
// size, so that a few MiB make a multipart upload.
func (e *env) config(t *testing.T) storj.Config {
	return storj.Config{
		Bucket:      e.newBucket(t),
		AccessGrant: e.grant,
		PartSize:    storj.MinPartSize,
		SpoolDir:    t.TempDir(),
	}
}

func (e *env) open(t *testing.T, cfg storj.Config) *storj.Backend {
	t.Helper()
	b, err := storj.New(e.ctx, cfg)
	if err != nil {
		t.Fatalf("storj.New: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func (e *env) newBackend(t *testing.T) store.Backend { return e.open(t, e.config(t)) }

func (e *env) newStore(t *testing.T) *store.Store {
	s, err := store.Open(e.ctx, store.Options{Root: t.TempDir(), Backend: e.newBackend(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// pending lists the keys of the multipart uploads in progress in bucket.
func (e *env) pending(t *testing.T, bucket string) []string {
	t.Helper()
	var keys []string
	it := e.project.ListUploads(e.ctx, bucket, &uplink.ListUploadsOptions{Recursive: true})
	for it.Next() {
		keys = append(keys, it.Item().Key)
	}
	if err := it.Err(); err != nil {
		t.Fatalf("listing uploads: %v", err)
	}
	return keys
}

// objects lists the keys of the committed objects in bucket.
func (e *env) objects(t *testing.T, bucket string) []string {
	t.Helper()
	var keys []string
	it := e.project.ListObjects(e.ctx, bucket, &uplink.ListObjectsOptions{Recursive: true})
	for it.Next() {
		keys = append(keys, it.Item().Key)
	}
	if err := it.Err(); err != nil {
		t.Fatalf("listing objects: %v", err)
	}
	return keys
}

// spoolFiles lists what the spool directory holds.
func spoolFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		out = append(out, e.Name())
		if e.IsDir() {
			sub, err := os.ReadDir(dir + "/" + e.Name())
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range sub {
				out = append(out, e.Name()+"/"+s.Name())
			}
		}
	}
	return out
}

// faults is a dialer for the uplink library that breaks the network on
// demand: it can refuse new connections and cut the open ones (now, or
// once some more bytes have been sent), and it counts the bytes that come
// in.
type faults struct {
	refuse  atomic.Int64 // dials still to refuse
	refused atomic.Int64
	armed   atomic.Int64 // > 0: bytes to send before cutting everything
	cuts    atomic.Int64 // armed cuts that happened
	read    atomic.Int64 // bytes read from all connections
	// downAfterRead > 0: bytes to receive before cutting everything and
	// refusing every connection from then on.
	downAfterRead atomic.Int64

	mu    sync.Mutex
	conns map[*faultConn]bool
}

func newFaults() *faults { return &faults{conns: map[*faultConn]bool{}} }

var errInjected = errors.New("injected network failure")

func (f *faults) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	for {
		n := f.refuse.Load()
		if n <= 0 {
			break
		}
		if f.refuse.CompareAndSwap(n, n-1) {
			f.refused.Add(1)
			return nil, &net.OpError{Op: "dial", Net: network, Err: errInjected}
		}
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	fc := &faultConn{Conn: c, f: f}
	f.mu.Lock()
	f.conns[fc] = true
	f.mu.Unlock()
	return fc, nil
}

// cut closes every open connection, as a network outage would.
func (f *faults) cut() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for c := range f.conns {
		c.Conn.Close()
		delete(f.conns, c)
		n++
	}
	return n
}

// cutAfter cuts every connection once n more bytes have been sent.
func (f *faults) cutAfter(n int64) { f.armed.Store(n) }

func (f *faults) sent(n int) {
	for {
		left := f.armed.Load()
		if left <= 0 {
			return
		}
		if f.armed.CompareAndSwap(left, left-int64(n)) {
			if left-int64(n) <= 0 {
				f.cuts.Add(1)
				f.cut()
			}
			return
		}
	}
}

type faultConn struct {
	net.Conn
	f *faults
}

func (c *faultConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.f.read.Add(int64(n))
	c.f.received(n)
	return n, err
}

func (f *faults) received(n int) {
	for {
		left := f.downAfterRead.Load()
		if left <= 0 {
			return
		}
		if f.downAfterRead.CompareAndSwap(left, left-int64(n)) {
			if left-int64(n) <= 0 {
				f.refuse.Store(1 << 40)
				f.cuts.Add(1)
				f.cut()
			}
			return
		}
	}
}

func (c *faultConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.f.sent(n)
	return n, err
}

func (c *faultConn) Close() error {
	c.f.mu.Lock()
	delete(c.f.conns, c)
	c.f.mu.Unlock()
	return c.Conn.Close()
}
