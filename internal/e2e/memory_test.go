package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	memClients  = 4
	memBlobSize = 1 << 30
	// memLimit is the bound on the server's resident memory while
	// the four clients push and pull.
	memLimit = 100 << 20
	// memChunk is the PATCH size of the chunked client.
	memChunk = 64 << 20
)

// TestMemoryLargeBlobs: four clients each push a 1 GiB blob at once (two
// monolithic POST+PUT, one chunked, one single POST ?digest=) and pull it
// back, verifying every byte; the blobs exist only as generated streams on
// the client side too. The server's peak resident set (VmHWM, and VmRSS
// sampled throughout) must stay under 100 MiB.
func TestMemoryLargeBlobs(t *testing.T) {
	if testing.Short() {
		t.Skip("pushes and pulls 4 GiB; skipped with -short")
	}
	root := t.TempDir()
	var fs syscall.Statfs_t
	if err := syscall.Statfs(root, &fs); err != nil {
		t.Fatal(err)
	}
	need := uint64(memClients*memBlobSize + 512<<20)
	if free := fs.Bavail * uint64(fs.Bsize); free < need {
		t.Fatalf("the memory test needs %.1f GiB free in %s (the test's temporary directory; set TMPDIR elsewhere), there are %.1f GiB",
			float64(need)/(1<<30), root, float64(free)/(1<<30))
	}

	ctx := context.Background()
	s := startServer(t, root)
	c := newClient(s.base)
	defer c.close()

	type job struct {
		repo string
		b    blob
		mode string
		dgst string
	}
	jobs := make([]*job, memClients)
	modes := []string{"monolithic", "chunked", "single-post", "monolithic"}
	for i := range jobs {
		jobs[i] = &job{repo: fmt.Sprintf("memory/client%d", i), b: blob{Seed: 0x6d656d00 + uint64(i), Size: memBlobSize}, mode: modes[i%len(modes)]}
	}
	// The monolithic pushes name the digest up front: compute it (two at a
	// time, before the clock starts). The chunked client hashes as it sends.
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for _, j := range jobs {
		if j.mode == "chunked" {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			j.dgst = j.b.digest()
			<-sem
		})
	}
	wg.Wait()

	smp := startSampler(t, s.pid())
	defer smp.stop()

	errs := make([]error, len(jobs))
	start := time.Now()
	for i, j := range jobs {
		wg.Go(func() {
			var err error
			switch j.mode {
			case "monolithic":
				var loc string
				if loc, err = c.startUpload(ctx, j.repo); err == nil {
					err = c.putBlob(ctx, loc, j.b, j.dgst, 0)
				}
			case "single-post":
				err = c.postBlob(ctx, j.repo, j.b, j.dgst)
			case "chunked":
				j.dgst, err = pushChunkedHashing(ctx, c, j.repo, j.b)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	push := time.Since(start)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%s push of client %d: %v", jobs[i].mode, i, err)
		}
	}
	pushRSS := smp.max()

	start = time.Now()
	for i, j := range jobs {
		wg.Go(func() {
			found, err := c.getBlob(ctx, j.repo, j.b, j.dgst)
			if err == nil && !found {
				err = fmt.Errorf("blob %s not found", j.dgst)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	pull := time.Since(start)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("pull of client %d: %v", i, err)
		}
	}
	smp.stop()
	hwm, err := procStatus(s.pid(), "VmHWM")
	if err != nil {
		t.Fatal(err)
	}
	total := float64(memClients * memBlobSize)
	t.Logf("server RSS: peak sampled VmRSS %.1f MiB (%.1f MiB while pushing, %d samples), VmHWM %.1f MiB; limit %d MiB",
		mib(smp.max()), mib(pushRSS), smp.count(), mib(hwm), memLimit>>20)
	t.Logf("push: %d x 1 GiB (%s) in %.1fs = %.0f MB/s; pull (verified) in %.1fs = %.0f MB/s",
		memClients, strings.Join(modes, ", "), push.Seconds(), total/push.Seconds()/1e6, pull.Seconds(), total/pull.Seconds()/1e6)
	if hwm >= memLimit || smp.max() >= memLimit {
		t.Errorf("the server's resident set reached %.1f MiB (VmHWM; sampled peak %.1f MiB), over the %d MiB bound",
			mib(hwm), mib(smp.max()), memLimit>>20)
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// pushChunkedHashing pushes b in memChunk PATCHes, hashing while it sends,
// then closes the upload with the digest, which it returns.
func pushChunkedHashing(ctx context.Context, c *client, repo string, b blob) (string, error) {
	loc, err := c.startUpload(ctx, repo)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	src := io.TeeReader(b.stream(0), h)
	for off := int64(0); off < b.Size; off += memChunk {
		n := min(memChunk, b.Size-off)
		if loc, err = c.patch(ctx, loc, io.LimitReader(src, n), off, n); err != nil {
			return "", err
		}
	}
	d := "sha256:" + hex.EncodeToString(h.Sum(nil))
	resp, err := c.do(ctx, http.MethodPut, c.url(loc, url.Values{"digest": {d}}), http.NoBody, 0, nil)
	if err != nil {
		return "", err
	}
	defer drain(resp)
	return d, checkCreated("PUT "+loc, resp, d)
}

// sampler reads a process's VmRSS every 20ms.
type sampler struct {
	mu     sync.Mutex
	peak   int64
	n      int
	done   chan struct{}
	exited chan struct{}
	once   sync.Once
}

func startSampler(t *testing.T, pid int) *sampler {
	s := &sampler{done: make(chan struct{}), exited: make(chan struct{})}
	go func() {
		defer close(s.exited)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			rss, err := procStatus(pid, "VmRSS")
			if err != nil {
				t.Errorf("sampling the server's RSS: %v", err)
				return
			}
			s.mu.Lock()
			s.peak = max(s.peak, rss)
			s.n++
			s.mu.Unlock()
			select {
			case <-s.done:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *sampler) stop() {
	s.once.Do(func() { close(s.done) })
	<-s.exited
}

func (s *sampler) max() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

func (s *sampler) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// procStatus reads a "kB" field of /proc/<pid>/status, in bytes.
func procStatus(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != field {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/status %s: %q", pid, field, v)
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, field)
}
