package storjtest

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"storj.io/common/testcontext"
	"storj.io/storj/private/testplanet"
)

// TestHoldPlanet is not a test but a tool for benchmarks: with
// STORJ_PLANET_HOLD=DIR it starts the same network as TestStorj, creates the
// bucket "bench", writes the access grant to DIR/grant, and keeps the network
// up until DIR/stop appears (or the test times out, at the latest after 6 hours), so that a dfsreg serve
// started by hand can use it:
//
//	STORJ_PLANET_HOLD=/tmp/planet go test -run TestHoldPlanet -timeout 3h ./test/storj &
//	# wait for /tmp/planet/grant, then
//	DFSREG_STORAGE_BACKEND=storj DFSREG_STORAGE_STORJ_BUCKET=bench \
//	  DFSREG_STORAGE_STORJ_ACCESS_GRANT_FILE=/tmp/planet/grant dfsreg serve ...
//	touch /tmp/planet/stop
func TestHoldPlanet(t *testing.T) {
	dir := os.Getenv("STORJ_PLANET_HOLD")
	if dir == "" {
		t.Skip("a benchmark tool: set STORJ_PLANET_HOLD=DIR to run it")
	}
	testplanet.Run(t, planetConfig(6*time.Hour), func(t *testing.T, ctx *testcontext.Context, planet *testplanet.Planet) {
		e := newEnv(t, ctx, planet)
		if _, err := e.project.CreateBucket(ctx, "bench"); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(dir, "stop"))
		tmp := filepath.Join(dir, "grant.tmp")
		if err := os.WriteFile(tmp, []byte(e.grant+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "grant")); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(filepath.Join(dir, "grant"))
		for {
			if _, err := os.Stat(filepath.Join(dir, "stop")); err == nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	})
}
