package serve

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestIdleDeadlineClearedAtEOF: once the body is read to its end, the idle
// deadline no longer applies. net/http then reads the connection in the
// background to notice a client going away; a deadline left in place would
// fire there and cancel the request's context while the handler still works
// (a manifest stored, a blob committed).
func TestIdleDeadlineClearedAtEOF(t *testing.T) {
	const idle = 150 * time.Millisecond
	s := &Server{limits: newLimiter(Limits{BodyIdleTimeout: idle})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := s.wrapBody(w, r)
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil || n != body.n {
			http.Error(w, "read: "+err.Error(), 500)
			return
		}
		select {
		case <-time.After(4 * idle): // the handler's slow work
		case <-r.Context().Done():
			http.Error(w, "cancelled while working", 500)
			return
		}
		io.WriteString(w, "done")
	}))
	defer srv.Close()
	for _, size := range []int{10, 3 << 20} {
		resp, err := http.Post(srv.URL, "text/plain", strings.NewReader(strings.Repeat("x", size)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "done" {
			t.Fatalf("%d-byte body: %s %s", size, resp.Status, b)
		}
	}
}
