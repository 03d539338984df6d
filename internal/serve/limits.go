package serve

import (
	"math"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/dfsreg/dfsreg/internal/oci"
	"github.com/dfsreg/dfsreg/internal/ratelimit"
)

// Limits bound what clients can take from the API. The zero value limits
// nothing.
type Limits struct {
	// Rate is the sustained requests per second allowed per client IP
	// (0: no limit); Burst how many may come at once.
	Rate  float64
	Burst int
	// MaxUploads bounds the upload requests carrying a body (PATCH, PUT,
	// POST ?digest=) served at once; more are answered 429 (0: no bound).
	MaxUploads int
	// MaxManifestPuts bounds the manifest PUTs whose bodies (up to 4 MiB,
	// held in memory) are read at once; more wait their turn for up to
	// ManifestWait, then get 429 (0: no bound).
	MaxManifestPuts int
	ManifestWait    time.Duration
	// BodyIdleTimeout cuts a request body that delivers nothing for this
	// long: each read gets that long, so a long upload that keeps sending is
	// never cut (0: no deadline).
	BodyIdleTimeout time.Duration
}

// limiter is the state of Limits in a Server.
type limiter struct {
	Limits
	perClient *ratelimit.Limiter
	uploads   atomic.Int64
	manifests chan struct{} // nil: unbounded

	// Test hooks, nil outside tests: a manifest PUT took a place; a
	// manifest PUT found none free and waits.
	manifestAdmitted, manifestWaits func()
}

func newLimiter(l Limits) *limiter {
	lm := &limiter{Limits: l, perClient: ratelimit.New(l.Rate, l.Burst)}
	if l.MaxManifestPuts > 0 {
		lm.manifests = make(chan struct{}, l.MaxManifestPuts)
	}
	if lm.ManifestWait <= 0 {
		lm.ManifestWait = 10 * time.Second
	}
	return lm
}

// admitManifest waits for a place among the manifest PUTs being read.
func (l *limiter) admitManifest(w http.ResponseWriter, r *http.Request) (release func(), err error) {
	if l.manifests == nil {
		return func() {}, nil
	}
	release = func() { <-l.manifests }
	select {
	case l.manifests <- struct{}{}:
		hook(l.manifestAdmitted)
		return release, nil
	default:
	}
	t := time.NewTimer(l.ManifestWait)
	defer t.Stop()
	hook(l.manifestWaits)
	select {
	case l.manifests <- struct{}{}:
		hook(l.manifestAdmitted)
		return release, nil
	case <-t.C:
		w.Header().Set("Retry-After", "1")
		return nil, oci.Err(oci.CodeTooManyRequests, "%d manifest uploads in progress, the most this registry takes at once: retry later", l.MaxManifestPuts)
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
}

// admit takes the places r needs among bounded requests (uploads carrying
// blob bytes, manifest PUTs); release gives them back.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, rt route) (release func(), err error) {
	switch {
	case isUpload(r, rt):
		return s.admitUpload(w)
	case rt.kind == epManifest && r.Method == http.MethodPut:
		return s.limits.admitManifest(w, r)
	}
	return func() {}, nil
}

// hook calls a test hook, if set.
func hook(f func()) {
	if f != nil {
		f()
	}
}

// allowClient applies the per-client rate limit.
func (l *limiter) allowClient(w http.ResponseWriter, r *http.Request) error {
	ok, retry := l.perClient.Allow(ratelimit.ClientKey(r.RemoteAddr))
	if ok {
		return nil
	}
	secs := max(1, int(math.Ceil(retry.Seconds())))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return oci.Err(oci.CodeTooManyRequests, "too many requests from this client: retry in %ds", secs)
}

// isUpload reports whether r sends blob bytes.
func isUpload(r *http.Request, rt route) bool {
	switch {
	case rt.kind == epUpload:
		return r.Method == http.MethodPatch || r.Method == http.MethodPut
	case rt.kind == epUploads && r.Method == http.MethodPost:
		return r.URL.Query().Has("digest") || contentLength(r) > 0
	}
	return false
}

// admitUpload takes a place among the uploads in flight; release gives it
// back.
func (s *Server) admitUpload(w http.ResponseWriter) (release func(), err error) {
	l := s.limits
	n := l.uploads.Add(1)
	if l.MaxUploads > 0 && n > int64(l.MaxUploads) {
		l.uploads.Add(-1)
		w.Header().Set("Retry-After", "1")
		return nil, oci.Err(oci.CodeTooManyRequests, "%d uploads in progress, the most this registry takes at once: retry later", l.MaxUploads)
	}
	if s.obs != nil {
		s.obs.UploadsInFlight(+1)
	}
	return func() {
		l.uploads.Add(-1)
		if s.obs != nil {
			s.obs.UploadsInFlight(-1)
		}
	}, nil
}

// wrapBody puts r's body, if any, in a bodyReader with the idle deadline.
func (s *Server) wrapBody(w http.ResponseWriter, r *http.Request) *bodyReader {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	body := &bodyReader{ReadCloser: r.Body}
	if idle := s.limits.BodyIdleTimeout; idle > 0 {
		body.idle = &idleDeadline{rc: http.NewResponseController(w), idle: idle}
	}
	r.Body = body
	return body
}

// idleDeadline gives each body read idle to deliver something: the read
// deadline is set before the read and lifted after it, so only time the
// server spends waiting for the client counts, never time it spends on the
// bytes (a slow backend write between two reads).
type idleDeadline struct {
	rc   *http.ResponseController
	idle time.Duration
	off  bool // the transport cannot set deadlines
	// ended: a read returned an error (io.EOF included); the deadline is
	// then left as it is.
	ended bool
}

func (d *idleDeadline) beforeRead() {
	if d == nil || d.off {
		return
	}
	if err := d.rc.SetReadDeadline(time.Now().Add(d.idle)); err != nil {
		d.off = true
	}
}

func (d *idleDeadline) afterRead(err error) {
	if d == nil || d.off {
		return
	}
	if err != nil {
		// At EOF net/http lifts the deadline itself for its background
		// read; after a timeout it stays, so that net/http's discarding
		// of the rest of the body fails at once and the connection goes.
		d.ended = true
		return
	}
	d.rc.SetReadDeadline(time.Time{})
}

// handlerDone bounds what net/http reads of a body the handler left unread
// (it discards up to 256 KiB to reuse the connection) by the idle timeout.
func (d *idleDeadline) handlerDone() {
	if d == nil || d.off || d.ended {
		return
	}
	d.rc.SetReadDeadline(time.Now().Add(d.idle))
}
