package auth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/dfsreg/dfsreg/internal/config"
	"github.com/dfsreg/dfsreg/internal/oci"
)

func basicAuthorizer(t *testing.T, anonymousPull bool) *Authorizer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "htpasswd")
	os.WriteFile(path, []byte("alice:"+hashOf(t, "alicepw")+"\nbob:"+hashOf(t, "bobpw")+"\n"), 0o600)
	a, err := New(config.Auth{
		HTPasswd:      config.HTPasswd{Path: path, Realm: "test realm"},
		AnonymousPull: anonymousPull,
		Access: []config.AccessRule{
			{Repository: "team/**", Users: []string{"alice"}, Actions: []string{"*"}},
			{Repository: "team/**", Users: []string{"bob"}, Actions: []string{"pull"}},
		},
		FailedLogins: config.FailedLogins{Max: 3, Window: time.Minute},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// outcome renders what Authorize answered: "ok <subject>", or the status,
// code and headers of the error.
func outcome(g Grant, err error) string {
	if err == nil {
		return "ok " + g.Subject()
	}
	var oe *oci.Error
	if !errors.As(err, &oe) {
		return "not an OCI error: " + err.Error()
	}
	s := http.StatusText(oe.Status) + " " + string(oe.Code)
	var ae *Error
	if errors.As(err, &ae) {
		for _, k := range []string{"Www-Authenticate", "Retry-After"} {
			if v := ae.Header.Get(k); v != "" {
				s += " | " + k + ": " + v
			}
		}
	}
	return s
}

func req(authz string) *http.Request {
	r := httptest.NewRequest("GET", "/v2/", nil)
	r.RemoteAddr = "192.0.2.1:1234"
	if authz != "" {
		r.Header.Set("Authorization", authz)
	}
	return r
}

func basicHdr(user, pass string) string {
	r := httptest.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, pass)
	return r.Header.Get("Authorization")
}

func TestAuthorizeBasic(t *testing.T) {
	const challenge = ` | Www-Authenticate: Basic realm="test realm", charset="UTF-8"`
	pullA, pushA, delA := Repository("team/a", Pull), Repository("team/a", Pull, Push), Repository("team/a", Delete)
	for _, anon := range []bool{false, true} {
		a := basicAuthorizer(t, anon)
		anonPull := "Unauthorized UNAUTHORIZED" + challenge
		if anon {
			anonPull = "ok "
		}
		for _, tc := range []struct {
			name  string
			authz string
			need  []Access
			want  string
		}{
			{"base, no credentials", "", nil, "Unauthorized UNAUTHORIZED" + challenge},
			{"base, alice", basicHdr("alice", "alicepw"), nil, "ok alice"},
			{"pull, no credentials", "", []Access{pullA}, anonPull},
			{"push, no credentials", "", []Access{pushA}, "Unauthorized UNAUTHORIZED" + challenge},
			{"push, alice", basicHdr("alice", "alicepw"), []Access{pushA}, "ok alice"},
			{"push, bob", basicHdr("bob", "bobpw"), []Access{pushA}, "Forbidden DENIED"},
			{"delete, bob", basicHdr("bob", "bobpw"), []Access{delA}, "Forbidden DENIED"},
			{"pull elsewhere, bob", basicHdr("bob", "bobpw"), []Access{Repository("other/x", Pull)}, map[bool]string{false: "Forbidden DENIED", true: "ok bob"}[anon]},
			{"catalog, bob", basicHdr("bob", "bobpw"), []Access{Catalog}, "ok bob"},
			{"catalog, no credentials", "", []Access{Catalog}, map[bool]string{false: "Unauthorized UNAUTHORIZED" + challenge, true: "ok "}[anon]},
			{"bearer in basic mode", "Bearer abc", []Access{pullA}, "Unauthorized UNAUTHORIZED" + challenge},
			{"not base64", "Basic !!!", nil, "Unauthorized UNAUTHORIZED" + challenge},
			{"lower-case scheme", strings.Replace(basicHdr("alice", "alicepw"), "Basic", "basic", 1), nil, "ok alice"},
		} {
			if got := outcome(a.Authorize(req(tc.authz), tc.need...)); got != tc.want {
				t.Errorf("anonymous_pull=%v %s: %s, want %s", anon, tc.name, got, tc.want)
			}
		}
	}
}

func TestAuthorizeFailedLoginLimit(t *testing.T) {
	a := basicAuthorizer(t, false)
	now := time.Unix(1_000_000, 0)
	a.limit.SetClock(func() time.Time { return now })
	wrong := basicHdr("alice", "guess")
	for i := range 3 {
		if got := outcome(a.Authorize(req(wrong))); !strings.HasPrefix(got, "Unauthorized") {
			t.Fatalf("failure %d: %s", i, got)
		}
	}
	// The budget (3 per minute) is spent: even the right password waits.
	want := "Too Many Requests TOOMANYREQUESTS | Retry-After: 20"
	if got := outcome(a.Authorize(req(basicHdr("alice", "alicepw")))); got != want {
		t.Fatalf("4th attempt: %s, want %s", got, want)
	}
	// Another address is not affected; nor are requests without credentials.
	other := req(basicHdr("alice", "alicepw"))
	other.RemoteAddr = "[2001:db8::1]:5555"
	if got := outcome(a.Authorize(other)); got != "ok alice" {
		t.Fatalf("other address: %s", got)
	}
	// IPv6 addresses count per /64; an IPv4-mapped address is its IPv4.
	for _, addr := range []string{"[2001:db8:0:1::1]:1", "[2001:db8:0:1::2]:1", "[2001:db8:0:1:ffff::3]:1"} {
		r := req(wrong)
		r.RemoteAddr = addr
		a.Authorize(r)
	}
	for _, addr := range []string{"[2001:db8:0:1::99]:1", "[::ffff:192.0.2.1]:80"} {
		r := req(basicHdr("alice", "alicepw"))
		r.RemoteAddr = addr
		if got := outcome(a.Authorize(r)); !strings.HasPrefix(got, "Too Many Requests") {
			t.Fatalf("%s: %s, want 429", addr, got)
		}
	}
	if got := outcome(a.Authorize(req(""))); !strings.HasPrefix(got, "Unauthorized") {
		t.Fatalf("no credentials while limited: %s", got)
	}
	// One failure's worth of time later, one more attempt is allowed.
	now = now.Add(20 * time.Second)
	if got := outcome(a.Authorize(req(basicHdr("alice", "alicepw")))); got != "ok alice" {
		t.Fatalf("after 20s: %s", got)
	}
	// Successes cost nothing.
	for range 5 {
		if got := outcome(a.Authorize(req(basicHdr("alice", "alicepw")))); got != "ok alice" {
			t.Fatalf("success while the bucket is low: %s", got)
		}
	}
	// Idle addresses are forgotten once their bucket is full again.
	now = now.Add(time.Hour)
	if n := a.limit.Len(); n != 2 { // 192.0.2.1 and 2001:db8:0:1::/64
		t.Fatalf("limiter tracks %d addresses, want 2", n)
	}
	r := req(wrong)
	r.RemoteAddr = "198.51.100.7:1"
	a.Authorize(r)
	if n := a.limit.Len(); n != 1 {
		t.Fatalf("limiter tracks %d addresses after an idle hour, want 1 (198.51.100.7)", n)
	}
}

func TestAuthorizeBearer(t *testing.T) {
	k := newTokenKeys(t)
	a, err := New(config.Auth{Token: k.config(), FailedLogins: config.FailedLogins{Max: 10, Window: time.Minute}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok := func(c TokenClaims) string { return "Bearer " + sign(t, jwt.SigningMethodES256, k.ec, c, nil) }
	expired := k.claims(Repository("team/a", Pull))
	expired.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour))
	const ch = ` | Www-Authenticate: Bearer realm="http://127.0.0.1:1/token",service="test-registry"`
	for _, tc := range []struct {
		name  string
		authz string
		need  []Access
		want  string
	}{
		{"base, no token", "", nil, "Unauthorized UNAUTHORIZED" + ch},
		{"push, no token", "", []Access{Repository("team/a", Pull, Push)}, "Unauthorized UNAUTHORIZED" + ch + `,scope="repository:team/a:pull,push"`},
		{"base, token without access", tok(k.claims()), nil, "ok alice"},
		{"pull with a pull token", tok(k.claims(Repository("team/a", Pull))), []Access{Repository("team/a", Pull)}, "ok alice"},
		{"push with a pull token", tok(k.claims(Repository("team/a", Pull))), []Access{Repository("team/a", Pull, Push)},
			"Unauthorized UNAUTHORIZED" + ch + `,scope="repository:team/a:pull,push",error="insufficient_scope"`},
		{"catalog", tok(k.claims(Catalog)), []Access{Catalog}, "ok alice"},
		{"expired", tok(expired), []Access{Repository("team/a", Pull)},
			"Unauthorized UNAUTHORIZED" + ch + `,scope="repository:team/a:pull",error="invalid_token"`},
		{"forged", "Bearer " + sign(t, jwt.SigningMethodES256, k.other, k.claims(Repository("team/a", Pull)), nil), []Access{Repository("team/a", Pull)},
			"Unauthorized UNAUTHORIZED" + ch + `,scope="repository:team/a:pull",error="invalid_token"`},
		{"basic in token mode", basicHdr("alice", "x"), nil, "Unauthorized UNAUTHORIZED" + ch},
	} {
		if got := outcome(a.Authorize(req(tc.authz), tc.need...)); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
	// An expired token is not a failed login; a forged one is.
	if n := a.limit.Len(); n != 1 {
		t.Errorf("limiter tracks %d addresses, want 1 (the forged token)", n)
	}
}
