// Package metrics keeps dfsreg's Prometheus metrics in a registry of its own
// (not the global one): HTTP requests by route, method and status, latency,
// bytes in and out, uploads in flight, blob backend operations, gc runs, and
// the Go runtime and process collectors. It implements serve.Observer.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dfsreg/dfsreg/internal/serve"
)

// Metrics is the registry and its metrics. Safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	bytesIn   *prometheus.CounterVec
	bytesOut  *prometheus.CounterVec
	uploads   prometheus.Gauge
	backendD  *prometheus.HistogramVec
	backendE  *prometheus.CounterVec
	gcRuns    *prometheus.CounterVec
	gcLast    prometheus.Gauge
	gcLastEnd prometheus.Gauge
}

var _ serve.Observer = (*Metrics)(nil)

// New returns fresh metrics in a new registry.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	// Requests take from a millisecond (a HEAD) to minutes (a large blob).
	reqBuckets := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dfsreg_http_requests_total", Help: "API requests answered, by route (endpoint kind), method and status.",
	}, []string{"route", "method", "status"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "dfsreg_http_request_duration_seconds", Help: "Time to answer an API request, body included, by route and method.",
		Buckets: reqBuckets,
	}, []string{"route", "method"})
	m.bytesIn = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dfsreg_http_request_bytes_total", Help: "Request body bytes read, by route.",
	}, []string{"route"})
	m.bytesOut = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dfsreg_http_response_bytes_total", Help: "Response body bytes written, by route.",
	}, []string{"route"})
	m.uploads = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "dfsreg_uploads_in_flight", Help: "Upload requests carrying blob bytes being served.",
	})
	m.backendD = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "dfsreg_backend_operation_duration_seconds", Help: "Blob backend operation latency (open: until the stream starts), by operation.",
		Buckets: reqBuckets,
	}, []string{"op"})
	m.backendE = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dfsreg_backend_operation_errors_total", Help: "Blob backend operations that failed (not counting blobs not found and cancelled requests), by operation.",
	}, []string{"op"})
	m.gcRuns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dfsreg_gc_runs_total", Help: "Scheduled garbage collections, by result (ok or error).",
	}, []string{"result"})
	m.gcLast = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "dfsreg_gc_last_duration_seconds", Help: "Duration of the last scheduled garbage collection.",
	})
	m.gcLastEnd = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "dfsreg_gc_last_run_timestamp_seconds", Help: "When the last scheduled garbage collection ended (Unix time).",
	})
	m.reg.MustRegister(m.requests, m.latency, m.bytesIn, m.bytesOut, m.uploads, m.backendD, m.backendE,
		m.gcRuns, m.gcLast, m.gcLastEnd,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Series that exist from the start, so that a scrape shows them at 0.
	for _, r := range []string{"ok", "error"} {
		m.gcRuns.WithLabelValues(r)
	}
	for _, op := range backendOps {
		m.backendE.WithLabelValues(op)
	}
	return m
}

// Registry is the registry the metrics live in.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, MaxRequestsInFlight: 4})
}

// ObserveRequest implements serve.Observer.
func (m *Metrics) ObserveRequest(ri serve.RequestInfo) {
	m.requests.WithLabelValues(ri.Route, ri.Method, strconv.Itoa(ri.Status)).Inc()
	m.latency.WithLabelValues(ri.Route, ri.Method).Observe(ri.Duration.Seconds())
	if ri.BytesIn > 0 {
		m.bytesIn.WithLabelValues(ri.Route).Add(float64(ri.BytesIn))
	}
	if ri.BytesOut > 0 {
		m.bytesOut.WithLabelValues(ri.Route).Add(float64(ri.BytesOut))
	}
}

// UploadsInFlight implements serve.Observer.
func (m *Metrics) UploadsInFlight(delta int) { m.uploads.Add(float64(delta)) }

// GCRun records a scheduled garbage collection that took d and failed with
// err (nil: succeeded).
func (m *Metrics) GCRun(d time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.gcRuns.WithLabelValues(result).Inc()
	m.gcLast.Set(d.Seconds())
	m.gcLastEnd.Set(float64(time.Now().UnixNano()) / 1e9)
}
