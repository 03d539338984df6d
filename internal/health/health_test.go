package health

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestHandler(t *testing.T) {
	var failing atomic.Bool
	var checks, reported atomic.Int32
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, "api")
	})
	h := Handler(api, Options{
		Ready: func(ctx context.Context) error {
			checks.Add(1)
			if _, ok := ctx.Deadline(); !ok {
				t.Error("readiness check without a deadline")
			}
			if failing.Load() {
				return errors.New("database is gone")
			}
			return nil
		},
		OnNotReady: func(error) { reported.Add(1) },
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "metrics")
		}),
	})
	rc := h.(http.HandlerFunc)
	do := func(method, path string) (int, string) {
		rec := httptest.NewRecorder()
		rc(rec, httptest.NewRequest(method, path, nil))
		return rec.Code, rec.Body.String()
	}
	for _, c := range []struct {
		method, path string
		fail         bool
		status       int
		body         string
	}{
		{"GET", "/healthz", false, 200, `{"status":"ok"}` + "\n"},
		{"HEAD", "/healthz", false, 200, ""},
		{"GET", "/healthz", true, 200, `{"status":"ok"}` + "\n"}, // alive even when not ready
		{"GET", "/readyz", false, 200, `{"status":"ready"}` + "\n"},
		{"GET", "/metrics", false, 200, "metrics"},
		{"POST", "/healthz", false, 405, `{"status":"method not allowed"}` + "\n"},
		{"GET", "/v2/", false, 418, "api"},
		{"GET", "/healthz/x", false, 418, "api"},
	} {
		failing.Store(c.fail)
		status, body := do(c.method, c.path)
		if status != c.status || body != c.body {
			t.Errorf("%s %s: %d %q, want %d %q", c.method, c.path, status, body, c.status, c.body)
		}
	}
}

func TestReadyCachedAndFailing(t *testing.T) {
	var checks atomic.Int32
	var fail atomic.Bool
	var reported error
	clock := time.Unix(1000, 0)
	h := handler(http.NotFoundHandler(), Options{
		Ready: func(context.Context) error {
			checks.Add(1)
			if fail.Load() {
				return errors.New("backend unreachable")
			}
			return nil
		},
		OnNotReady: func(err error) { reported = err },
	}, func() time.Time { return clock })
	get := func() int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		return rec.Code
	}
	for range 50 {
		if c := get(); c != 200 {
			t.Fatalf("readyz %d, want 200", c)
		}
		clock = clock.Add(10 * time.Millisecond)
	}
	if n := checks.Load(); n != 1 {
		t.Errorf("50 probes within a second ran %d checks, want 1", n)
	}
	fail.Store(true)
	clock = clock.Add(490 * time.Millisecond) // 990ms after the check
	if c := get(); c != 200 {
		t.Fatalf("readyz within the second of the last check: %d, want its answer 200", c)
	}
	clock = clock.Add(10 * time.Millisecond) // a second after: checked again
	if c := get(); c != http.StatusServiceUnavailable {
		t.Fatalf("readyz with a failing check: %d, want 503", c)
	}
	if n := checks.Load(); n != 2 {
		t.Errorf("%d checks, want 2", n)
	}
	if reported == nil || reported.Error() != "backend unreachable" {
		t.Errorf("OnNotReady got %v", reported)
	}
	h2 := Handler(http.NotFoundHandler(), Options{}) // no /metrics configured
	rec := httptest.NewRecorder()
	h2.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 404 {
		t.Errorf("/metrics without metrics: %d, want the API's 404", rec.Code)
	}
}
