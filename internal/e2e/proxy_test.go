package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestTrustedProxy: behind a trusted proxy each client named by
// X-Forwarded-For gets its own rate-limit bucket and its own log address;
// without http.trusted_proxies the header is ignored and every request is
// the proxy's.
func TestTrustedProxy(t *testing.T) {
	// Two requests per client, then one per 20 s: the third is refused.
	limits := []string{"DFSREG_LIMITS_RATE=0.05", "DFSREG_LIMITS_BURST=2"}
	get := func(t *testing.T, s *server, xff string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", s.base+"/v2/", nil)
		req.Header.Set("X-Forwarded-For", xff)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	statuses := func(t *testing.T, s *server, xff string, n int) []int {
		var out []int
		for range n {
			out = append(out, get(t, s, xff))
		}
		return out
	}
	want := func(t *testing.T, what string, got []int, want ...int) {
		t.Helper()
		for i := range want {
			if i >= len(got) || got[i] != want[i] {
				t.Fatalf("%s: statuses %v, want %v", what, got, want)
			}
		}
	}

	t.Run("trusted", func(t *testing.T) {
		s := startServerOpt(t, t.TempDir(), serverOpt{logLevel: "info",
			env: append([]string{"DFSREG_HTTP_TRUSTED_PROXIES=127.0.0.1,10.0.0.0/8"}, limits...)})
		want(t, "client A through the proxy", statuses(t, s, "203.0.113.1", 3), 200, 200, 429)
		want(t, "client B through two proxies", statuses(t, s, "203.0.113.2, 10.1.2.3", 2), 200, 200)
		// A client cannot pick another bucket by writing the header
		// itself: the proxy appends the address it saw.
		want(t, "client A posing as C", statuses(t, s, "198.51.100.3, 203.0.113.1", 1), 429)
		if !strings.Contains(s.log.String(), "trusted_proxies=127.0.0.1,10.0.0.0/8") {
			t.Errorf("the startup line does not name the trusted proxies:\n%s", s.log.Tail(2<<10))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if !waitFor(ctx, func() bool { return strings.Contains(s.log.String(), "remote=203.0.113.2") }) {
			t.Fatalf("the log never names client B:\n%s", s.log.Tail(4<<10))
		}
	})
	t.Run("untrusted", func(t *testing.T) {
		s := startServerOpt(t, t.TempDir(), serverOpt{env: limits})
		// The readiness probe spent a token of 127.0.0.1's bucket, which
		// every request shares whatever its header says.
		got := append(statuses(t, s, "203.0.113.1", 1), statuses(t, s, "203.0.113.2", 2)...)
		if got[len(got)-1] != 429 {
			t.Fatalf("statuses %v: the header chose a bucket without a trusted proxy", got)
		}
	})
}
