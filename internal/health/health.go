// Package health serves the operational endpoints that sit in front of the
// registry API and need no authentication: /healthz (the process answers),
// /readyz (the store and its backend answer) and /metrics.
package health

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// Options configure Handler.
type Options struct {
	// Ready checks that the server can do its work (store.Ping).
	Ready func(ctx context.Context) error
	// ReadyTimeout bounds one readiness check (default 5s).
	ReadyTimeout time.Duration
	// OnNotReady is told why a readiness check failed; the response does
	// not say (it needs no authentication).
	OnNotReady func(error)
	// Metrics serves /metrics; nil: no /metrics.
	Metrics http.Handler
}

// Handler serves /healthz, /readyz and /metrics, and passes every other
// request to next.
func Handler(next http.Handler, o Options) http.Handler {
	return handler(next, o, time.Now)
}

// handler is Handler with the clock now.
func handler(next http.Handler, o Options, now func() time.Time) http.Handler {
	rc := &readyCheck{o: o, ttl: time.Second, now: now}
	if rc.o.ReadyTimeout <= 0 {
		rc.o.ReadyTimeout = 5 * time.Second
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var h http.Handler
		switch r.URL.Path {
		case "/healthz":
			h = http.HandlerFunc(alive)
		case "/readyz":
			h = rc
		case "/metrics":
			h = o.Metrics
		}
		if h == nil {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			answer(w, r, http.StatusMethodNotAllowed, `{"status":"method not allowed"}`)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func answer(w http.ResponseWriter, r *http.Request, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write([]byte(body + "\n"))
	}
}

func alive(w http.ResponseWriter, r *http.Request) {
	answer(w, r, http.StatusOK, `{"status":"ok"}`)
}

// readyCheck runs Ready at most once per ttl: probes from many places (or a
// hostile client) cost one check.
type readyCheck struct {
	o   Options
	ttl time.Duration
	now func() time.Time

	mu   sync.Mutex
	at   time.Time
	last error
}

func (c *readyCheck) check(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && c.now().Sub(c.at) < c.ttl {
		return c.last
	}
	var err error
	if c.o.Ready != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.o.ReadyTimeout)
		err = c.o.Ready(ctx)
		cancel()
	}
	c.at, c.last = c.now(), err
	if err != nil && c.o.OnNotReady != nil {
		c.o.OnNotReady(err)
	}
	return err
}

func (c *readyCheck) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := c.check(r.Context()); err != nil {
		answer(w, r, http.StatusServiceUnavailable, `{"status":"unavailable"}`)
		return
	}
	answer(w, r, http.StatusOK, `{"status":"ready"}`)
}
