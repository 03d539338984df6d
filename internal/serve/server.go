// Package serve is dfsreg's OCI Distribution Spec v1.1 HTTP API over a
// store.Store. Handlers return errors; one adapter writes them as the spec's
// JSON envelope.
package serve

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/julienschmidt/httprouter"

	"github.com/dfsreg/dfsreg/internal/oci"
	"github.com/dfsreg/dfsreg/internal/store"
)

// Options configure a Server.
type Options struct {
	Logger *slog.Logger
	// Authorizer, when set, authenticates every request and checks what it
	// needs (see auth.go); nil serves everyone everything.
	Authorizer Authorizer
	// Observer, when set, is told about every request (metrics).
	Observer Observer
	// Limits bound what clients can take.
	Limits Limits
}

// Server is the registry's HTTP API.
type Server struct {
	store  *store.Store
	log    *slog.Logger
	router *httprouter.Router
	auth   Authorizer
	obs    Observer
	limits *limiter
	// handlers: see handlerTable.
	handlers map[handlerKey]handler
}

// New returns the API over st.
func New(st *store.Store, opts Options) *Server {
	s := &Server{store: st, log: opts.Logger, auth: opts.Authorizer, obs: opts.Observer, limits: newLimiter(opts.Limits)}
	s.handlers = s.handlerTable()
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	r := httprouter.New()
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = true
	r.MethodNotAllowed = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.writeError(w, req, oci.Err(oci.CodeUnsupported, "method %s is not supported on %s", req.Method, truncate(req.URL.Path, 200)))
	})
	r.NotFound = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.writeError(w, req, oci.Err(oci.CodeNameUnknown, "no such endpoint").WithStatus(http.StatusNotFound))
	})
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodPatch, http.MethodDelete} {
		r.Handle(m, "/v2/*path", s.dispatch)
	}
	s.router = r
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if s.obs != nil {
		s.observed(w, r, s.limitAndRoute)
		return
	}
	s.limitAndRoute(w, r)
}

// limitAndRoute applies the per-client rate limit, then routes.
func (s *Server) limitAndRoute(w http.ResponseWriter, r *http.Request) {
	if err := s.limits.allowClient(w, r); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.router.ServeHTTP(w, r)
}

type handler func(w http.ResponseWriter, r *http.Request, rt route) error

// handlerKey names a route's handler: endpoint kind and method.
type handlerKey struct {
	kind   endpoint
	method string
}

// handlerTable maps (endpoint kind, method) to its handler. Built once per
// server: building it per request cost a map and 17 closures each time.
func (s *Server) handlerTable() map[handlerKey]handler {
	return map[handlerKey]handler{
		{epBase, http.MethodGet}:        s.base,
		{epBase, http.MethodHead}:       s.base,
		{epCatalog, http.MethodGet}:     s.catalog,
		{epTags, http.MethodGet}:        s.tags,
		{epManifest, http.MethodGet}:    s.getManifest,
		{epManifest, http.MethodHead}:   s.getManifest,
		{epManifest, http.MethodPut}:    s.putManifest,
		{epManifest, http.MethodDelete}: s.deleteManifest,
		{epBlob, http.MethodGet}:        s.getBlob,
		{epBlob, http.MethodHead}:       s.getBlob,
		{epBlob, http.MethodDelete}:     s.deleteBlob,
		{epUploads, http.MethodPost}:    s.startUpload,
		{epUpload, http.MethodGet}:      s.uploadStatus,
		{epUpload, http.MethodPatch}:    s.patchUpload,
		{epUpload, http.MethodPut}:      s.finishUpload,
		{epUpload, http.MethodDelete}:   s.cancelUpload,
		{epReferrers, http.MethodGet}:   s.referrers,
	}
}

func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	rt, err := parseRoute(r.URL.Path)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := s.handlers[handlerKey{rt.kind, r.Method}]
	if h == nil {
		s.writeError(w, r, oci.Err(oci.CodeUnsupported, "method %s is not supported on %s", r.Method, rt.kind))
		return
	}
	body := s.wrapBody(w, r)
	if body != nil {
		if rt.kind == epManifest {
			body.code = oci.CodeManifestInvalid
		}
		// On every way out, refused requests included: net/http then
		// drains what is left of the body, and the idle deadline must
		// still bound that.
		defer body.idle.handlerDone()
	}
	noteRoute(r, rt, body)
	// Authenticated before admitted: a stranger's upload takes no slot.
	if err := s.authorize(w, r, &rt); err != nil {
		s.writeError(w, r, err)
		return
	}
	release, err := s.admit(w, r, rt)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer release()
	if err := h(w, r, rt); err != nil {
		s.writeError(w, r, err)
	}
}

// writeError is the one place errors become responses: OCI errors with their
// status and envelope; anything else is the server's fault, logged and
// answered 500 without internals.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var oe *oci.Error
	if !errors.As(err, &oe) {
		if errors.Is(err, context.Canceled) || errors.Is(r.Context().Err(), context.Canceled) {
			s.log.Debug("request cancelled", "id", RequestID(r.Context()), "method", r.Method, "path", r.URL.Path, "err", err)
		} else {
			s.log.Error("internal error", "id", RequestID(r.Context()), "method", r.Method, "path", r.URL.Path, "err", err)
		}
		oe = oci.Err(oci.CodeUnknown, "internal server error")
	}
	body := oe.Marshal()
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	h.Del("Docker-Content-Digest")
	h.Del("Cache-Control") // set for the blob, not for an error about it (416)
	var rh interface{ ResponseHeader() http.Header }
	if errors.As(err, &rh) { // WWW-Authenticate of a 401, Retry-After of a 429
		for k, v := range rh.ResponseHeader() {
			h[k] = v
		}
	}
	w.WriteHeader(oe.Status)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// bodyReader makes a request body that ends before its Content-Length (or
// inside a chunk) a client error, SIZE_INVALID, rather than an internal one;
// it counts the bytes read and applies the idle deadline.
type bodyReader struct {
	io.ReadCloser
	n    int64
	idle *idleDeadline
	// code is the error code of a body cut for idling (the endpoint's).
	code oci.Code
}

func (b *bodyReader) Read(p []byte) (int, error) {
	b.idle.beforeRead()
	n, err := b.ReadCloser.Read(p)
	b.idle.afterRead(err)
	b.n += int64(n)
	switch {
	case err == nil:
	case errors.Is(err, io.ErrUnexpectedEOF):
		err = oci.Err(oci.CodeSizeInvalid, "the request body ended after %d bytes, short of its declared length", b.n)
	case errors.Is(err, os.ErrDeadlineExceeded) && b.idle != nil:
		code := b.code
		if code == "" {
			code = oci.CodeBlobUploadInvalid
		}
		err = oci.Err(code, "the request body sent nothing for %s", b.idle.idle).WithStatus(http.StatusRequestTimeout)
	}
	return n, err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func (s *Server) base(w http.ResponseWriter, r *http.Request, _ route) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", "2")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write([]byte("{}"))
	}
	return nil
}

// hasPrefixFold is strings.HasPrefix ignoring ASCII case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
