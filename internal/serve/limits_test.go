package serve_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/dfsreg/dfsreg/internal/oci"
	"github.com/dfsreg/dfsreg/internal/serve"
	"github.com/dfsreg/dfsreg/internal/store"
)

// limitServer is the API with opts on a real loopback server (deadlines need
// real connections) over a new store; setup, if given, is applied to the
// API before it serves.
func limitServer(t *testing.T, opts serve.Options, setup ...func(*serve.Server)) *httptest.Server {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	api := serve.New(st, opts)
	for _, f := range setup {
		f(api)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(func() {
		srv.Close()
		st.Close()
	})
	return srv
}

func do(t *testing.T, method, url string, body io.Reader, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// wantError checks an OCI error envelope answer.
func wantError(t *testing.T, what string, resp *http.Response, body []byte, status int, code oci.Code) {
	t.Helper()
	var env oci.Envelope
	if resp.StatusCode != status || json.Unmarshal(body, &env) != nil || len(env.Errors) != 1 || env.Errors[0].Code != code {
		t.Fatalf("%s: %s %s, want %d %s", what, resp.Status, body, status, code)
	}
}

func startSession(t *testing.T, base, repo string) string {
	t.Helper()
	resp, _ := do(t, "POST", base+"/v2/"+repo+"/blobs/uploads/", nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST upload: %s", resp.Status)
	}
	return base + resp.Header.Get("Location")
}

// signal sends on ch without blocking (ch is buffered for the events a
// test expects).
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// waitFor waits for an event on ch; a minute without one fails the test.
func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(time.Minute):
		t.Fatalf("a minute without: %s", what)
	}
}

// fakeClock is a clock that moves only when told, safe for concurrent use.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestRateLimitPerClient(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	srv := limitServer(t, serve.Options{Limits: serve.Limits{Rate: 1, Burst: 3}}, func(s *serve.Server) { serve.SetRateClock(s, clock.Now) })
	for i := range 3 {
		if resp, _ := do(t, "GET", srv.URL+"/v2/", nil); resp.StatusCode != 200 {
			t.Fatalf("request %d within the burst: %s", i, resp.Status)
		}
	}
	resp, body := do(t, "GET", srv.URL+"/v2/", nil)
	wantError(t, "request over the burst", resp, body, http.StatusTooManyRequests, oci.CodeTooManyRequests)
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s != 1 {
		t.Errorf("Retry-After %q, want 1 (second)", resp.Header.Get("Retry-After"))
	}
	resp, _ = do(t, "HEAD", srv.URL+"/v2/", nil)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("HEAD over the limit: %s", resp.Status)
	}
	clock.Advance(time.Second)
	if resp, _ := do(t, "GET", srv.URL+"/v2/", nil); resp.StatusCode != 200 {
		t.Fatalf("after a second: %s", resp.Status)
	}
	if resp, _ := do(t, "GET", srv.URL+"/v2/", nil); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a second request after a second (one token back): %s", resp.Status)
	}
}

// slowBody sends first, then blocks until release is closed, then sends
// rest.
type slowBody struct {
	parts   [][]byte
	release chan struct{}
	started chan struct{}
	once    sync.Once
}

func (b *slowBody) Read(p []byte) (int, error) {
	if len(b.parts) == 0 {
		return 0, io.EOF
	}
	if len(b.parts) == 1 {
		b.once.Do(func() { close(b.started) })
		<-b.release
	}
	n := copy(p, b.parts[0])
	b.parts[0] = b.parts[0][n:]
	if len(b.parts[0]) == 0 {
		b.parts = b.parts[1:]
	}
	return n, nil
}

// uploadWatch is a serve.Observer signalling each upload taking a place.
type uploadWatch struct{ admitted chan struct{} }

func (uploadWatch) ObserveRequest(serve.RequestInfo) {}

func (u uploadWatch) UploadsInFlight(delta int) {
	if delta > 0 {
		signal(u.admitted)
	}
}

func TestMaxUploads(t *testing.T) {
	watch := uploadWatch{admitted: make(chan struct{}, 8)}
	srv := limitServer(t, serve.Options{Limits: serve.Limits{MaxUploads: 1}, Observer: watch})
	first := startSession(t, srv.URL, "limits/a")
	second := startSession(t, srv.URL, "limits/b")
	slow := &slowBody{parts: [][]byte{[]byte("abc"), []byte("def")}, release: make(chan struct{}), started: make(chan struct{})}
	done := make(chan int)
	go func() {
		req, _ := http.NewRequest("PATCH", first, slow)
		req.ContentLength = 6
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	waitFor(t, watch.admitted, "the first PATCH taking the upload place")
	resp, body := do(t, "PATCH", second, strings.NewReader("xyz"))
	wantError(t, "a second upload while one is in flight", resp, body, http.StatusTooManyRequests, oci.CodeTooManyRequests)
	if resp.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	data := []byte("monolithic")
	resp, body = do(t, "POST", srv.URL+"/v2/limits/c/blobs/uploads/?digest="+digest.FromBytes(data).String(), strings.NewReader(string(data)))
	wantError(t, "a monolithic POST while one is in flight", resp, body, http.StatusTooManyRequests, oci.CodeTooManyRequests)
	// Requests without blob bytes are not uploads.
	startSession(t, srv.URL, "limits/d")
	if resp, _ := do(t, "GET", second, nil); resp.StatusCode != http.StatusNoContent {
		t.Errorf("upload status while full: %s", resp.Status)
	}
	close(slow.release)
	if status := <-done; status != http.StatusAccepted {
		t.Fatalf("the first upload: %d", status)
	}
	if resp, body := do(t, "PATCH", second, strings.NewReader("xyz")); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("the second upload once the first is done: %s %s", resp.Status, body)
	}
}

// dripBody sends n bytes, one every gap.
type dripBody struct {
	n   int
	gap time.Duration
}

func (d *dripBody) Read(p []byte) (int, error) {
	if d.n == 0 {
		return 0, io.EOF
	}
	time.Sleep(d.gap)
	p[0] = 'x'
	d.n--
	return 1, nil
}

func TestBodyIdleTimeout(t *testing.T) {
	const idle = 600 * time.Millisecond
	srv := limitServer(t, serve.Options{Limits: serve.Limits{BodyIdleTimeout: idle}})

	// A body that keeps sending, slowly, for four times the idle timeout
	// is not cut (a byte every twelfth of it: a margin for a busy machine;
	// with a sixth of 300 ms, a full test run's parallel cross builds once
	// held the sender past the timeout).
	url := startSession(t, srv.URL, "idle/steady")
	start := time.Now()
	req, _ := http.NewRequest("PATCH", url, &dripBody{n: 48, gap: idle / 12})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Range") != "0-47" {
		t.Fatalf("a steady slow body: %s, Range %q", resp.Status, resp.Header.Get("Range"))
	}
	if took := time.Since(start); took < 3*idle {
		t.Fatalf("the steady body took only %v", took)
	}

	// A body that stops sending is cut after the idle timeout: 408, and
	// the session keeps what came before the stall. The body stalls until
	// the test ends, so any end of the request is the server's doing (the
	// client gives up after a minute, which fails the test).
	url = startSession(t, srv.URL, "idle/stalled")
	stall := &slowBody{parts: [][]byte{[]byte("abc"), []byte("def")}, release: make(chan struct{}), started: make(chan struct{})}
	defer close(stall.release)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, _ = http.NewRequestWithContext(ctx, "PATCH", url, stall)
	req.ContentLength = 6
	start = time.Now()
	resp, err = http.DefaultClient.Do(req)
	took := time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("the stalled body was not cut: %v", err)
	}
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantError(t, "a stalled body", resp, body, http.StatusRequestTimeout, oci.CodeBlobUploadInvalid)
	} else {
		t.Logf("the client saw the connection cut before the answer: %v", err)
	}
	t.Logf("stalled body cut after %v", took)
	if took < idle {
		t.Fatalf("the stalled body was cut after %v, before the idle timeout %v", took, idle)
	}
	if resp, _ := do(t, "GET", srv.URL+"/v2/", nil); resp.StatusCode != 200 {
		t.Fatalf("the server after the cut: %s", resp.Status)
	}
}

// recorder is a serve.Observer keeping what it is told.
type recorder struct {
	mu      sync.Mutex
	reqs    []serve.RequestInfo
	uploads []int
}

func (r *recorder) ObserveRequest(ri serve.RequestInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, ri)
}

func (r *recorder) UploadsInFlight(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.uploads = append(r.uploads, n)
}

func TestObserver(t *testing.T) {
	rec := &recorder{}
	srv := limitServer(t, serve.Options{Observer: rec})
	data := []byte("observed blob")
	d := digest.FromBytes(data).String()
	do(t, "GET", srv.URL+"/v2/", nil)
	do(t, "POST", srv.URL+"/v2/obs/repo/blobs/uploads/?digest="+d, strings.NewReader(string(data)))
	do(t, "GET", srv.URL+"/v2/obs/repo/blobs/"+d, nil)
	do(t, "GET", srv.URL+"/v2/obs/repo/manifests/missing", nil)
	do(t, "GET", srv.URL+"/v2/obs/repo/tags/list", nil)
	do(t, "GET", srv.URL+"/nothing/here", nil)
	do(t, "BREW", srv.URL+"/v2/", nil)
	want := []serve.RequestInfo{
		{Route: "base", Method: "GET", Status: 200, BytesOut: 2},
		{Route: "uploads", Method: "POST", Status: 201, BytesIn: int64(len(data))},
		{Route: "blobs", Method: "GET", Status: 200, BytesOut: int64(len(data))},
		{Route: "manifests", Method: "GET", Status: 404},
		{Route: "tags", Method: "GET", Status: 200},
		{Route: "other", Method: "GET", Status: 404},
		{Route: "other", Method: "other", Status: 405},
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.reqs) != len(want) {
		t.Fatalf("observed %d requests, want %d: %+v", len(rec.reqs), len(want), rec.reqs)
	}
	for i, w := range want {
		got := rec.reqs[i]
		if got.Duration <= 0 {
			t.Errorf("request %d: duration %v", i, got.Duration)
		}
		got.Duration = 0
		if w.BytesOut == 0 {
			got.BytesOut = 0 // error envelopes: any size
		}
		if got != w {
			t.Errorf("request %d: %+v, want %+v", i, got, w)
		}
	}
	if len(rec.uploads) != 2 || rec.uploads[0] != 1 || rec.uploads[1] != -1 {
		t.Errorf("uploads in flight changes reported %v, want [1 -1]", rec.uploads)
	}
}

func TestMaxManifestPuts(t *testing.T) {
	const manifestType = "application/vnd.oci.image.manifest.v1+json"
	type hooks struct{ admitted, waits chan struct{} }
	server := func(wait time.Duration) (*httptest.Server, hooks) {
		h := hooks{admitted: make(chan struct{}, 8), waits: make(chan struct{}, 8)}
		srv := limitServer(t, serve.Options{Limits: serve.Limits{MaxManifestPuts: 1, ManifestWait: wait}}, func(s *serve.Server) {
			serve.SetManifestHooks(s, func() { signal(h.admitted) }, func() { signal(h.waits) })
		})
		return srv, h
	}
	// put sends a manifest PUT in the background; its status (0: no
	// answer) comes on the channel.
	put := func(url string, body io.Reader, size int64) <-chan int {
		done := make(chan int, 1)
		go func() {
			req, _ := http.NewRequest("PUT", url, body)
			req.ContentLength = size
			req.Header.Set("Content-Type", manifestType)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		return done
	}
	stalled := func() *slowBody {
		return &slowBody{parts: [][]byte{[]byte("{"), []byte("}")}, release: make(chan struct{}), started: make(chan struct{})}
	}

	// A PUT that finds no place free within the wait gets 429, after
	// waiting.
	const wait = 300 * time.Millisecond
	srv, h := server(wait)
	first := stalled()
	firstDone := put(srv.URL+"/v2/limits/m/manifests/v1", first, 2)
	waitFor(t, h.admitted, "the first PUT taking the place")
	start := time.Now()
	resp, body := do(t, "PUT", srv.URL+"/v2/limits/m/manifests/v2", strings.NewReader("{}"), "Content-Type", manifestType)
	wantError(t, "a second manifest PUT while one is read", resp, body, http.StatusTooManyRequests, oci.CodeTooManyRequests)
	if resp.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	if took := time.Since(start); took < wait {
		t.Errorf("refused after %v, before waiting %v for a place", took, wait)
	}
	select {
	case <-h.waits:
	default:
		t.Error("the refused PUT did not wait for a place")
	}
	close(first.release)
	if status := <-firstDone; status == 0 || status == http.StatusTooManyRequests {
		t.Fatalf("the first PUT: %d", status)
	}

	// A PUT waiting for the place gets it once the PUT holding it is done
	// (the wait is long: only the order of events matters).
	srv, h = server(time.Minute)
	first = stalled()
	firstDone = put(srv.URL+"/v2/limits/m/manifests/v1", first, 2)
	waitFor(t, h.admitted, "the first PUT taking the place")
	secondDone := put(srv.URL+"/v2/limits/m/manifests/v3", strings.NewReader("{}"), 2)
	waitFor(t, h.waits, "the second PUT waiting for the place")
	select {
	case status := <-secondDone:
		t.Fatalf("the second PUT answered %d while the first held the place", status)
	default:
	}
	close(first.release)
	if status := <-firstDone; status == 0 || status == http.StatusTooManyRequests {
		t.Fatalf("the first PUT: %d", status)
	}
	waitFor(t, h.admitted, "the second PUT taking the freed place")
	if status := <-secondDone; status == 0 || status == http.StatusTooManyRequests {
		t.Fatalf("the PUT that waited for the place: %d", status)
	}
}
