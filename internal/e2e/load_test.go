package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dfsreg/dfsreg/internal/metrics/metricstest"
)

const (
	loadClients  = 64
	loadRequests = 20000
)

// TestLoad: 64 concurrent clients make 20,000 mixed requests on loopback
// (40% blob GETs checked byte for byte, 20% blob HEADs, 20% manifest GETs,
// 5% each of manifest HEADs, tag lists, /v2/ and monolithic pushes of new
// blobs). Every request must succeed; the latency percentiles are reported,
// and /metrics must have counted every request, none of them 5xx or 429.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("20,000 requests; skipped with -short")
	}
	s := startServer(t, t.TempDir())
	ctx := context.Background()
	c := newClient(s.base)
	defer c.close()
	var images []*image
	for i := range 8 {
		im, err := pushImage(ctx, c, fmt.Sprintf("load/r%d", i), "v1", 0x6c6f6164000000+uint64(i)<<8, 3, 64<<10)
		if err != nil {
			t.Fatal(err)
		}
		images = append(images, im)
	}
	// new blobs, digests computed before the clock starts
	uploads := make([]blob, loadRequests/20)
	upDigests := make([]string, len(uploads))
	for i := range uploads {
		uploads[i] = blob{Seed: 0x6c6f616475700000 + uint64(i), Size: 4 << 10}
		upDigests[i] = uploads[i].digest()
	}

	kinds := []string{"GET blob", "HEAD blob", "GET manifest", "HEAD manifest", "GET tags", "GET /v2/", "POST blob"}
	// op of request i, by i%20
	mix := [20]int{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 4, 5, 6}
	lat := make([]latencies, len(kinds))
	var all latencies
	var next, failures atomic.Int64
	var errMu sync.Mutex
	var errs []error
	start := time.Now()
	var wg sync.WaitGroup
	for range loadClients {
		wg.Go(func() {
			wc := newClient(s.base)
			defer wc.close()
			for {
				i := int(next.Add(1) - 1)
				if i >= loadRequests {
					return
				}
				k := mix[i%20]
				im := images[i%len(images)]
				j := (i / 20) % len(im.blobs)
				t0 := time.Now()
				err := loadOp(ctx, wc, k, i, im, j, uploads, upDigests)
				d := time.Since(t0)
				lat[k].add(d)
				all.add(d)
				if err != nil {
					failures.Add(1)
					errMu.Lock()
					if len(errs) < 5 {
						errs = append(errs, fmt.Errorf("%s: %w", kinds[k], err))
					}
					errMu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	t.Logf("%d clients, %d requests in %v (%.0f requests/s), %d errors", loadClients, loadRequests, took.Round(time.Millisecond),
		loadRequests/took.Seconds(), failures.Load())
	t.Logf("all:            %s", all.summary())
	for k, name := range kinds {
		t.Logf("%-15s %s", name+":", lat[k].summary())
	}
	for _, err := range errs {
		t.Error(err)
	}
	if all.n() != loadRequests {
		t.Errorf("%d requests made, want %d", all.n(), loadRequests)
	}

	f, err := metricstest.Scrape(c.hc, s.base+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	total, _ := f.Value("dfsreg_http_requests_total")
	if total < loadRequests {
		t.Errorf("/metrics counted %v requests, want at least %d", total, loadRequests)
	}
	var bad []string
	for _, m := range f["dfsreg_http_requests_total"].GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == "status" && (strings.HasPrefix(lp.GetValue(), "5") || lp.GetValue() == "429") {
				bad = append(bad, fmt.Sprint(m.GetLabel(), m.GetCounter().GetValue()))
			}
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		t.Errorf("/metrics reports failed requests: %v", bad)
	}
}

// loadOp makes request i of kind k.
func loadOp(ctx context.Context, c *client, k, i int, im *image, j int, uploads []blob, upDigests []string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	switch k {
	case 0:
		found, err := c.getBlob(ctx, im.repo, im.blobs[j], im.digests[j])
		if err == nil && !found {
			err = fmt.Errorf("blob %s not found", im.digests[j])
		}
		return err
	case 1:
		return c.headBlob(ctx, im.repo, im.digests[j], im.blobs[j].Size)
	case 2:
		_, d, found, err := c.getManifest(ctx, im.repo, im.tag)
		if err == nil && (!found || d != im.manifest) {
			err = fmt.Errorf("manifest %s, want %s", d, im.manifest)
		}
		return err
	case 3:
		resp, err := c.do(ctx, http.MethodHead, c.base+"/v2/"+im.repo+"/manifests/"+im.tag, nil, 0, map[string]string{"Accept": mediaManifest})
		if err != nil {
			return err
		}
		defer drain(resp)
		if resp.StatusCode != 200 || resp.Header.Get("Docker-Content-Digest") != im.manifest {
			return unexpected("HEAD manifest", resp)
		}
		return nil
	case 4:
		tags, err := c.tagList(ctx, im.repo)
		if err == nil && (len(tags) != 1 || tags[0] != im.tag) {
			err = fmt.Errorf("tags %v", tags)
		}
		return err
	case 5:
		return c.ping(ctx)
	default:
		u := i / 20
		return c.postBlob(ctx, im.repo, uploads[u], upDigests[u])
	}
}
