package realip

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func mustTrusted(t *testing.T, list ...string) []netip.Prefix {
	t.Helper()
	p, err := ParseTrusted(list)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseTrusted(t *testing.T) {
	got := mustTrusted(t, "10.1.2.3/8", " 192.0.2.7 ", "2001:db8::/32", "::ffff:198.51.100.1")
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "198.51.100.1/32"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("entry %d: %s, want %s", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"", "proxy.example", "10.0.0.0/33", "1.2.3"} {
		if _, err := ParseTrusted([]string{bad}); err == nil {
			t.Errorf("ParseTrusted(%q) succeeded", bad)
		}
	}
}

func TestClient(t *testing.T) {
	trusted := mustTrusted(t, "10.0.0.0/8", "2001:db8:1::/48")
	tests := []struct {
		name string
		peer string
		xff  []string
		want string
		ok   bool
	}{
		{"untrusted peer: its header is ignored", "198.51.100.9", []string{"203.0.113.5"}, "198.51.100.9", false},
		{"trusted peer without a header", "10.0.0.2", nil, "10.0.0.2", false},
		{"one proxy", "10.0.0.2", []string{"203.0.113.5"}, "203.0.113.5", true},
		{"a client's own entry is never reached", "10.0.0.2", []string{"1.1.1.1, 203.0.113.5"}, "203.0.113.5", true},
		{"two proxies", "10.0.0.2", []string{"203.0.113.5, 10.9.9.9"}, "203.0.113.5", true},
		{"header lines read as one list", "10.0.0.2", []string{"1.1.1.1", "203.0.113.5", "10.9.9.9"}, "203.0.113.5", true},
		{"all hops trusted: the first", "10.0.0.2", []string{"10.3.3.3, 10.9.9.9"}, "10.3.3.3", true},
		{"entries with ports", "10.0.0.2", []string{"[2001:db8:2::7]:4711, 10.9.9.9:80"}, "2001:db8:2::7", true},
		{"IPv6 proxy, IPv4-mapped client", "2001:db8:1::1", []string{"::ffff:203.0.113.5"}, "203.0.113.5", true},
		{"IPv4-mapped trusted peer", "::ffff:10.0.0.2", []string{"203.0.113.5"}, "203.0.113.5", true},
		{"garbage read before the client: the peer", "10.0.0.2", []string{"203.0.113.5, unknown"}, "10.0.0.2", false},
		{"garbage left of the client is not read", "10.0.0.2", []string{"unknown, 203.0.113.5"}, "203.0.113.5", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Client(netip.MustParseAddr(tt.peer), tt.xff, trusted)
			if got.String() != tt.want || ok != tt.ok {
				t.Fatalf("Client = %s, %v; want %s, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestHandler(t *testing.T) {
	var seen string
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.RemoteAddr })
	h := Handler(mustTrusted(t, "10.0.0.0/8"), next)
	for _, tt := range []struct {
		remote, xff, want string
	}{
		{"10.0.0.2:5555", "203.0.113.5", "203.0.113.5"},
		{"198.51.100.9:5555", "203.0.113.5", "198.51.100.9:5555"},
		{"10.0.0.2:5555", "", "10.0.0.2:5555"},
	} {
		r := httptest.NewRequest("GET", "/v2/", nil)
		r.RemoteAddr = tt.remote
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		if seen != tt.want {
			t.Errorf("from %s with %q: handler saw %q, want %q", tt.remote, tt.xff, seen, tt.want)
		}
		if r.RemoteAddr != tt.remote {
			t.Errorf("the caller's request was changed: %q", r.RemoteAddr)
		}
	}
	// No trusted proxies: next itself, nothing rewritten.
	r := httptest.NewRequest("GET", "/v2/", nil)
	r.RemoteAddr = "10.0.0.2:5555"
	r.Header.Set("X-Forwarded-For", "203.0.113.5")
	Handler(nil, next).ServeHTTP(httptest.NewRecorder(), r)
	if seen != "10.0.0.2:5555" {
		t.Errorf("without trusted proxies: %q", seen)
	}
}
