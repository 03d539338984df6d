package serve

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
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

// TestIdleDeadlineCountsOnlyTheClient: a handler that works longer than the
// idle timeout between two reads (a slow backend) is not cut, over HTTP/1.1
// and HTTP/2; a client that stalls is.
func TestIdleDeadlineCountsOnlyTheClient(t *testing.T) {
	const idle = 200 * time.Millisecond
	s := &Server{limits: newLimiter(Limits{BodyIdleTimeout: idle})}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.wrapBody(w, r)
		buf := make([]byte, 10)
		var total int
		for {
			n, err := r.Body.Read(buf)
			total += n
			if err == io.EOF {
				break
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusRequestTimeout)
				return
			}
			time.Sleep(idle * 3 / 2) // the server's own slowness
		}
		io.WriteString(w, strconv.Itoa(total))
	})
	for _, proto := range []string{"HTTP/1.1", "HTTP/2.0"} {
		t.Run(proto, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(h)
			if proto == "HTTP/2.0" {
				srv.EnableHTTP2 = true
				srv.StartTLS()
			} else {
				srv.Start()
			}
			defer srv.Close()
			c := srv.Client()
			// all of the body sent at once, read slowly by the server
			resp, err := c.Post(srv.URL, "text/plain", strings.NewReader(strings.Repeat("x", 25)))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.Proto != proto || resp.StatusCode != 200 || string(b) != "25" {
				t.Fatalf("slow server: %s %s %q", resp.Proto, resp.Status, b)
			}
			// a client that sends 10 bytes then stalls until answered (or
			// for a minute: then the server reads the end of the body and
			// answers 200, which fails the test)
			pr, pw := io.Pipe()
			answered := make(chan struct{})
			go func() {
				pw.Write([]byte("0123456789"))
				select {
				case <-answered:
				case <-time.After(time.Minute):
				}
				pw.Close()
			}()
			start := time.Now()
			resp, err = c.Post(srv.URL, "text/plain", pr)
			close(answered)
			if err == nil {
				b, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusRequestTimeout {
					t.Fatalf("stalled client: %s %q", resp.Status, b)
				}
			} else {
				t.Logf("the client saw the connection cut before the answer: %v", err)
			}
			if took := time.Since(start); took < idle {
				t.Fatalf("stalled client cut after %v, before the idle timeout %v", took, idle)
			}
		})
	}
}
