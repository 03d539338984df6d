package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/dfsreg/dfsreg/internal/health"
	"github.com/dfsreg/dfsreg/internal/metrics"
	"github.com/dfsreg/dfsreg/internal/metrics/metricstest"
	"github.com/dfsreg/dfsreg/internal/serve"
	"github.com/dfsreg/dfsreg/internal/store"
)

// server is the API the way serve assembles it: the backend observed, the
// API observed, /metrics in front.
func server(t *testing.T) (*httptest.Server, *metrics.Metrics) {
	t.Helper()
	root := t.TempDir()
	m := metrics.New()
	fs, err := store.NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), store.Options{Root: root, Backend: m.WrapBackend(fs)})
	if err != nil {
		t.Fatal(err)
	}
	api := serve.New(st, serve.Options{Observer: m})
	srv := httptest.NewServer(health.Handler(api, health.Options{Ready: st.Ping, Metrics: m.Handler()}))
	t.Cleanup(func() {
		srv.Close()
		st.Close()
	})
	return srv, m
}

func call(t *testing.T, method, url, ct string, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestMetricsAfterPushPull pushes an image (config and layer: one monolithic,
// one chunked upload; the manifest), pulls it, and reads the scrape.
func TestMetricsAfterPushPull(t *testing.T) {
	srv, m := server(t)
	base := srv.URL + "/v2/metrics/app"
	config := `{"architecture":"amd64","os":"linux"}`
	layer := strings.Repeat("layer bytes ", 5000)
	cd, ld := digest.FromString(config), digest.FromString(layer)
	want := func(resp *http.Response, status int) {
		t.Helper()
		if resp.StatusCode != status {
			t.Fatalf("%s %s: %s, want %d", resp.Request.Method, resp.Request.URL.Path, resp.Status, status)
		}
	}
	want(call(t, "POST", base+"/blobs/uploads/?digest="+cd.String(), "", config), 201)
	resp := call(t, "POST", base+"/blobs/uploads/", "", "")
	want(resp, 202)
	loc := srv.URL + resp.Header.Get("Location")
	want(call(t, "PATCH", loc, "", layer[:30000]), 202)
	want(call(t, "PUT", loc+"?digest="+ld.String(), "", layer[30000:]), 201)
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}`, cd, len(config), ld, len(layer))
	want(call(t, "PUT", base+"/manifests/v1", "application/vnd.oci.image.manifest.v1+json", manifest), 201)
	want(call(t, "GET", base+"/manifests/v1", "", ""), 200)
	want(call(t, "GET", base+"/blobs/"+cd.String(), "", ""), 200)
	want(call(t, "GET", base+"/blobs/"+ld.String(), "", ""), 200)
	want(call(t, "GET", base+"/manifests/v2", "", ""), 404)
	m.GCRun(1500*time.Millisecond, nil)
	m.GCRun(time.Second, errors.New("disk on fire"))

	f, err := metricstest.Scrape(http.DefaultClient, srv.URL+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		labels  []string
		want    float64
		atLeast bool
	}{
		{"dfsreg_http_requests_total", []string{"route", "uploads", "method", "POST", "status", "201"}, 1, false},
		{"dfsreg_http_requests_total", []string{"route", "uploads", "method", "POST", "status", "202"}, 1, false},
		{"dfsreg_http_requests_total", []string{"route", "upload", "method", "PATCH", "status", "202"}, 1, false},
		{"dfsreg_http_requests_total", []string{"route", "upload", "method", "PUT", "status", "201"}, 1, false},
		{"dfsreg_http_requests_total", []string{"route", "manifests", "method", "PUT", "status", "201"}, 1, false},
		{"dfsreg_http_requests_total", []string{"route", "manifests", "method", "GET", "status", "200"}, 1, false},
		{"dfsreg_http_requests_total", []string{"route", "manifests", "method", "GET", "status", "404"}, 1, false},
		{"dfsreg_http_requests_total", []string{"route", "blobs", "method", "GET", "status", "200"}, 2, false},
		{"dfsreg_http_request_duration_seconds", []string{"route", "blobs", "method", "GET"}, 2, false},
		{"dfsreg_http_request_duration_seconds", nil, 9, false},
		{"dfsreg_http_request_bytes_total", []string{"route", "upload"}, float64(len(layer)), false},
		{"dfsreg_http_request_bytes_total", []string{"route", "uploads"}, float64(len(config)), false},
		{"dfsreg_http_request_bytes_total", []string{"route", "manifests"}, float64(len(manifest)), false},
		{"dfsreg_http_response_bytes_total", []string{"route", "blobs"}, float64(len(config) + len(layer)), false},
		{"dfsreg_http_response_bytes_total", []string{"route", "manifests"}, float64(len(manifest)), true},
		{"dfsreg_uploads_in_flight", nil, 0, false},
		{"dfsreg_backend_operation_duration_seconds", []string{"op", "commit"}, 2, false},
		{"dfsreg_backend_operation_duration_seconds", []string{"op", "stage"}, 2, true},
		{"dfsreg_backend_operation_duration_seconds", []string{"op", "open"}, 2, false},
		{"dfsreg_backend_operation_errors_total", nil, 0, false},
		{"dfsreg_gc_runs_total", []string{"result", "ok"}, 1, false},
		{"dfsreg_gc_runs_total", []string{"result", "error"}, 1, false},
		{"dfsreg_gc_last_duration_seconds", nil, 1, false},
		{"go_goroutines", nil, 1, true},
		{"process_resident_memory_bytes", nil, 1 << 20, true},
	} {
		got, ok := f.Value(c.name, c.labels...)
		if !ok || (!c.atLeast && got != c.want) || (c.atLeast && got < c.want) {
			t.Errorf("%s%v = %v (found %v), want %v (at least: %v)", c.name, c.labels, got, ok, c.want, c.atLeast)
		}
	}
	// Probes and scrapes are not API requests.
	call(t, "GET", srv.URL+"/healthz", "", "")
	call(t, "GET", srv.URL+"/readyz", "", "")
	f2, err := metricstest.Scrape(http.DefaultClient, srv.URL+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	n1, _ := f.Value("dfsreg_http_requests_total")
	n2, _ := f2.Value("dfsreg_http_requests_total")
	if n1 != n2 {
		t.Errorf("requests went from %v to %v over probes and a scrape", n1, n2)
	}
	if n, ok := f2.Value("dfsreg_backend_operation_duration_seconds", "op", "ping"); !ok || n != 1 {
		t.Errorf("readiness pinged the backend %v times, want 1", n)
	}
}

// failing is a backend whose every operation fails, except not-found stats.
type failing struct{ store.Backend }

var errDown = errors.New("backend down")

func (failing) Open(context.Context, digest.Digest, int64, int64) (io.ReadCloser, error) {
	return nil, errDown
}
func (failing) Stat(context.Context, digest.Digest) (int64, error) { return 0, store.ErrNotFound }
func (failing) Delete(context.Context, digest.Digest) error        { return errDown }
func (failing) Ping(context.Context) error                         { return errDown }

// locating is a LocatingBackend (as IPFS is).
type locating struct{ failing }

func (locating) OpenLocated(context.Context, digest.Digest, string, int64, int64) (io.ReadCloser, error) {
	return nil, errDown
}
func (locating) DeleteLocated(context.Context, digest.Digest, string) error { return nil }

func TestWrapBackend(t *testing.T) {
	m := metrics.New()
	ctx := context.Background()
	d := digest.FromString("x")
	plain := m.WrapBackend(failing{})
	if _, ok := plain.(store.LocatingBackend); ok {
		t.Error("a plain backend became a LocatingBackend")
	}
	loc, ok := m.WrapBackend(locating{}).(store.LocatingBackend)
	if !ok {
		t.Fatal("a LocatingBackend lost its interface")
	}
	plain.Open(ctx, d, 0, -1)
	plain.Stat(ctx, d) // not found: not an error
	plain.Delete(ctx, d)
	loc.OpenLocated(ctx, d, "cid", 0, -1)
	loc.DeleteLocated(ctx, d, "cid")
	if err := plain.(store.Pinger).Ping(ctx); !errors.Is(err, errDown) {
		t.Errorf("Ping: %v", err)
	}
	var b strings.Builder
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b.WriteString(rec.Body.String())
	f, err := metricstest.Parse(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		op          string
		count, errs float64
	}{
		{"open", 2, 2}, {"stat", 1, 0}, {"delete", 2, 1}, {"ping", 1, 1}, {"commit", 0, 0},
	} {
		n, _ := f.Value("dfsreg_backend_operation_duration_seconds", "op", c.op)
		e, ok := f.Value("dfsreg_backend_operation_errors_total", "op", c.op)
		if n != c.count || e != c.errs || !ok {
			t.Errorf("op %s: %v operations, %v errors (series there: %v); want %v, %v", c.op, n, e, ok, c.count, c.errs)
		}
	}
}
