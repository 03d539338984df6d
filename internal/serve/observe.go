package serve

import (
	"context"
	"net/http"
	"time"
)

// Observer is told about every API request once it is answered, and about
// upload requests in flight. Metrics implement it; it must be cheap and safe
// for concurrent use.
type Observer interface {
	ObserveRequest(RequestInfo)
	// UploadsInFlight reports a change (+1, -1) of the number of upload
	// requests carrying blob bytes being served.
	UploadsInFlight(delta int)
}

// RequestInfo describes one answered request. Route and Method take a few
// fixed values (see RouteNames), so they make low-cardinality labels.
type RequestInfo struct {
	// Route is the endpoint kind: "base", "catalog", "tags", "manifests",
	// "blobs", "uploads" (POST), "upload" (a session), "referrers", or
	// "other" for paths that name no endpoint.
	Route string
	// Method is the HTTP method, or "other" for a method the API has not.
	Method   string
	Status   int
	BytesIn  int64 // request body bytes read
	BytesOut int64 // response body bytes written
	Duration time.Duration
}

// RouteNames are the values of RequestInfo.Route.
var RouteNames = []string{"base", "catalog", "tags", "manifests", "blobs", "uploads", "upload", "referrers", "other"}

// metricName is the endpoint kind as a RequestInfo.Route.
func (e endpoint) metricName() string {
	return [...]string{"base", "catalog", "tags", "manifests", "blobs", "uploads", "upload", "referrers"}[e]
}

// reqState is what dispatch learns about a request for the observer.
type reqState struct {
	route string
	body  *bodyReader
}

type reqStateKey struct{}

// noteRoute records the request's endpoint kind and body for the observer.
func noteRoute(r *http.Request, rt route, body *bodyReader) {
	if st, ok := r.Context().Value(reqStateKey{}).(*reqState); ok {
		st.route = rt.kind.metricName()
		st.body = body
	}
}

// observed serves r through next and reports it to s.obs.
func (s *Server) observed(w http.ResponseWriter, r *http.Request, next func(http.ResponseWriter, *http.Request)) {
	st := &reqState{route: "other"}
	r = r.WithContext(context.WithValue(r.Context(), reqStateKey{}, st))
	// Behind WithRequestLog the writer already records status and size:
	// share it rather than count every response twice.
	sw, ok := w.(*statusWriter)
	if !ok {
		sw = &statusWriter{ResponseWriter: w}
	}
	start := time.Now()
	next(sw, r)
	info := RequestInfo{Route: st.route, Method: methodName(r.Method), Status: sw.status, BytesOut: sw.bytes, Duration: time.Since(start)}
	if info.Status == 0 {
		info.Status = http.StatusOK
	}
	if st.body != nil {
		info.BytesIn = st.body.n
	}
	s.obs.ObserveRequest(info)
}

func methodName(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodPatch, http.MethodDelete:
		return m
	}
	return "other"
}
