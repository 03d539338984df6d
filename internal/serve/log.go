package serve

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/opencontainers/image-spec/specs-go"
)

var specsVersioned = specs.Versioned{SchemaVersion: 2}

// statusWriter records the status and size of a response. It passes
// ReadFrom through so that blob bodies keep using sendfile.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	user   string // the authenticated caller, for the log
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(w.ResponseWriter, r)
	}
	w.bytes += n
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) setUser(u string) { w.user = u }

// RequestLogMessage is the message of WithRequestLog's records.
const RequestLogMessage = "request"

// WithRequestLog logs every request with log/slog: method, path, status,
// bytes, duration and a request id (X-Request-Id, echoed or generated).
func WithRequestLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !saneRequestID(id) {
			var b [8]byte
			rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
		sw := &statusWriter{ResponseWriter: w}
		start := time.Now()
		next.ServeHTTP(sw, r)
		level := slog.LevelInfo
		if sw.status >= 500 {
			level = slog.LevelError
		}
		attrs := []slog.Attr{slog.String("id", id), slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", sw.status), slog.Int64("bytes", sw.bytes),
			slog.Duration("duration", time.Since(start)), slog.String("remote", r.RemoteAddr)}
		if sw.user != "" {
			attrs = append(attrs, slog.String("user", sw.user))
		}
		// The record goes to the handler directly: Logger.LogAttrs would
		// also take the caller's stack (for a source the log never shows).
		if h := log.Handler(); h.Enabled(r.Context(), level) {
			rec := slog.NewRecord(time.Now(), level, RequestLogMessage, 0)
			rec.AddAttrs(attrs...)
			_ = h.Handle(r.Context(), rec)
		}
	})
}

type requestIDKey struct{}

// RequestID is the id WithRequestLog gave the request of ctx ("" outside it).
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// saneRequestID accepts a client's X-Request-Id of up to 64 letters, digits
// and -_.: (anything else is replaced, so that ids stay safe to log).
func saneRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':'
		if !ok {
			return false
		}
	}
	return true
}
