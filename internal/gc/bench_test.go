package gc_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dfsreg/dfsreg/internal/gc"
	"github.com/dfsreg/dfsreg/internal/store"
)

// scale is the benchmark store: 100,000 blobs in 10,000 manifests
// across 100 repositories, 10% of it garbage (untagged manifests with blobs
// of their own).
var scale = seedSpec{Prefix: "bench/r", Repos: 100, Manifests: 100, Blobs: 10, Garbage: 10, Age: 2 * time.Hour}

// rssSampler records the peak resident set size and Go heap of this process
// while it runs.
type rssSampler struct {
	stop     chan struct{}
	done     sync.WaitGroup
	peakRSS  int64
	peakHeap uint64
}

func startSampler() *rssSampler {
	s := &rssSampler{stop: make(chan struct{})}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			s.sample()
			select {
			case <-s.stop:
				s.sample()
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) sample() {
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			if pages, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				s.peakRSS = max(s.peakRSS, pages*int64(os.Getpagesize()))
			}
		}
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	s.peakHeap = max(s.peakHeap, m.HeapInuse)
}

func (s *rssSampler) end() {
	close(s.stop)
	s.done.Wait()
}

// BenchmarkGC is the mark and sweep of the scale store by gc.Run in this
// process (the store is built, untimed, for each iteration: run it with
// -benchtime=1x). Reported besides the time: the peak Go heap and the peak
// resident set of the process during the collection.
func BenchmarkGC(b *testing.B) {
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		root := b.TempDir()
		initStore(b, root)
		want := seed(b, root, scale)
		st, err := store.Open(ctx, store.Options{Root: root})
		if err != nil {
			b.Fatal(err)
		}
		syscall.Sync() // see TestGCScale
		runtime.GC()
		smp := startSampler()
		b.StartTimer()
		rep, err := gc.Run(ctx, st, gc.Options{Grace: time.Hour, Untagged: true})
		b.StopTimer()
		smp.end()
		if err != nil {
			b.Fatal(err)
		}
		if rep.Totals.Manifests != want.deadManifests || rep.Totals.Blobs != want.deadBlobs || rep.Totals.BlobBytes != want.deadBlobBytes {
			b.Fatalf("collected %d manifests, %d blobs (%d bytes); want %d, %d (%d)", rep.Totals.Manifests, rep.Totals.Blobs, rep.Totals.BlobBytes,
				want.deadManifests, want.deadBlobs, want.deadBlobBytes)
		}
		b.ReportMetric(float64(smp.peakHeap)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(smp.peakRSS)/(1<<20), "peak-rss-MiB")
		b.Logf("phases: manifests %s, links %s, blobs %s", rep.Durations.Manifests, rep.Durations.Links, rep.Durations.Blobs)
		st.Close()
	}
}

// TestGCScale (GC_SCALE=1) builds the scale store, runs `dfsreg gc` on it
// as its own process and logs the wall time and peak RSS (the process's
// VmHWM: getrusage's maxrss); with distribution's registry on PATH, it also
// builds the same content as a store of distribution's filesystem driver
// and logs `registry garbage-collect --delete-untagged` on it. Both must
// collect exactly the garbage; the numbers are logged, not asserted.
func TestGCScale(t *testing.T) {
	if os.Getenv("GC_SCALE") != "1" {
		t.Skip("GC_SCALE=1 runs the scale comparison (builds 100,000 blobs)")
	}
	root := t.TempDir()
	initStore(t, root)
	sp := scale
	registry, err := exec.LookPath("registry")
	if err == nil {
		sp.Distribution = filepath.Join(t.TempDir(), "dist")
	} else {
		t.Logf("distribution's registry is not on PATH: no comparison")
	}
	start := time.Now()
	want := seed(t, root, sp)
	t.Logf("built the store(s) in %s: %d live + %d dead manifests, %d live + %d dead blobs", time.Since(start).Round(time.Millisecond),
		want.liveManifests, want.deadManifests, want.liveBlobs, want.deadBlobs)

	// Measured from a clean page cache writeback state: the files just
	// written would otherwise make every fsync of the run wait for them.
	syscall.Sync()
	c := dfsregCmd("gc", "--root", root, "--grace", "1h", "--untagged", "--retention", "1h", "--json", "--log-level", "error")
	start = time.Now()
	out, err := c.Output()
	wall := time.Since(start)
	if err != nil {
		t.Fatalf("dfsreg gc: %v", err)
	}
	var rep gc.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Totals.Manifests != want.deadManifests || rep.Totals.Blobs != want.deadBlobs {
		t.Fatalf("dfsreg gc collected %d manifests, %d blobs; want %d, %d", rep.Totals.Manifests, rep.Totals.Blobs, want.deadManifests, want.deadBlobs)
	}
	t.Logf("dfsreg gc: %s wall, %.1f MiB peak RSS (phases: manifests %s, links %s, blobs %s)", wall.Round(time.Millisecond),
		maxRSS(c.ProcessState), rep.Durations.Manifests, rep.Durations.Links, rep.Durations.Blobs)

	if sp.Distribution == "" {
		return
	}
	cfg := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(cfg, []byte("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: "+sp.Distribution+"\n  delete:\n    enabled: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	syscall.Sync()
	rc := exec.Command(registry, "garbage-collect", "--delete-untagged", cfg)
	var rout strings.Builder
	rc.Stdout, rc.Stderr = &rout, &rout
	start = time.Now()
	err = rc.Run()
	rwall := time.Since(start)
	if err != nil {
		t.Fatalf("registry garbage-collect: %v\n%s", err, tail(rout.String(), 2000))
	}
	// What distribution left: blob directories (manifests are blobs there).
	left, err := filepath.Glob(filepath.Join(sp.Distribution, "docker", "registry", "v2", "blobs", "sha256", "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	if wantLeft := want.liveBlobs + want.liveManifests; len(left) != wantLeft {
		t.Errorf("registry garbage-collect left %d blobs, want %d", len(left), wantLeft)
	}
	t.Logf("registry garbage-collect --delete-untagged: %s wall, %.1f MiB peak RSS", rwall.Round(time.Millisecond), maxRSS(rc.ProcessState))
}

// maxRSS is a finished process's peak resident set in MiB.
func maxRSS(ps *os.ProcessState) float64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return float64(ru.Maxrss) / 1024 // KiB on Linux
	}
	return -1
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
