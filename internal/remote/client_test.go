package remote

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/opencontainers/go-digest"
)

// tokenRegistry is a fake registry behind a bearer token service: the token
// service grants push only to alice (basic credentials), pull to anyone.
type tokenRegistry struct {
	reg    *httptest.Server
	mu     sync.Mutex
	scopes []string // scopes asked of the token service
	users  []string
	blobs  map[string]bool
}

func newTokenRegistry(t *testing.T) *tokenRegistry {
	tr := &tokenRegistry{blobs: map[string]bool{}}
	token := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if ok && (user != "alice" || pass != "s3cret") {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		scope := r.URL.Query().Get("scope")
		tr.mu.Lock()
		tr.scopes = append(tr.scopes, r.URL.Query()["scope"]...)
		tr.users = append(tr.users, user)
		tr.mu.Unlock()
		grant := "pull"
		if user == "alice" && strings.HasSuffix(scope, "push") {
			grant = "pull,push"
		}
		json.NewEncoder(w).Encode(map[string]string{"token": "tok-" + grant})
	})
	// The token service is on the registry's host:port (go-containerregistry
	// refuses realms on other loopback addresses).
	tr.reg = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			token(w, r)
			return
		}
		auth := r.Header.Get("Authorization")
		need := "tok-pull"
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			need = "tok-pull,push"
		}
		if auth != "Bearer "+need && !(need == "tok-pull" && auth == "Bearer tok-pull,push") {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm=%q,service="test",scope="repository:a/b:pull,push"`, tr.reg.URL+"/token"))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
			return
		}
		switch {
		case r.URL.Path == "/v2/":
		case r.Method == http.MethodHead && strings.HasPrefix(r.URL.Path, "/v2/a/b/blobs/"):
			tr.mu.Lock()
			ok := tr.blobs[strings.TrimPrefix(r.URL.Path, "/v2/a/b/blobs/")]
			tr.mu.Unlock()
			if !ok {
				w.WriteHeader(http.StatusNotFound)
			}
		case r.Method == http.MethodPost && r.URL.Path == "/v2/a/b/blobs/uploads/":
			w.Header().Set("Location", "/v2/a/b/blobs/uploads/1?state=x")
			w.WriteHeader(http.StatusAccepted)
		case r.Method == http.MethodPut && r.URL.Path == "/v2/a/b/blobs/uploads/1":
			body, _ := io.ReadAll(r.Body)
			d := r.URL.Query().Get("digest")
			if r.URL.Query().Get("state") != "x" || digest.FromBytes(body).String() != d {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			tr.mu.Lock()
			tr.blobs[d] = true
			tr.mu.Unlock()
			w.WriteHeader(http.StatusCreated)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(tr.reg.Close)
	return tr
}

func dockerConfig(t *testing.T, host, user, pass string) {
	dir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	b := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, host, auth)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(b), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
}

// TestBearerWithDockerConfig: credentials from $DOCKER_CONFIG are sent to
// the token service for the push scope; the upload goes through.
func TestBearerWithDockerConfig(t *testing.T) {
	tr := newTokenRegistry(t)
	host := strings.TrimPrefix(tr.reg.URL, "http://")
	dockerConfig(t, host, "alice", "s3cret")
	ctx := context.Background()
	c, err := Dial(ctx, host, Options{PlainHTTP: true}, PushScope("a/b"))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Repository("a/b")
	data := []byte("hello")
	d := digest.FromBytes(data)
	if ok, err := r.HeadBlob(ctx, d); err != nil || ok {
		t.Fatalf("HeadBlob = %v, %v", ok, err)
	}
	loc, mounted, err := r.StartUpload(ctx, "", "")
	if err != nil || mounted {
		t.Fatalf("StartUpload: %v %v", mounted, err)
	}
	if !strings.HasPrefix(loc, tr.reg.URL+"/v2/a/b/blobs/uploads/1?") {
		t.Fatalf("location %q not resolved against the registry", loc)
	}
	if err := r.PutBlob(ctx, loc, d, int64(len(data)), strings.NewReader(string(data))); err != nil {
		t.Fatal(err)
	}
	if ok, err := r.HeadBlob(ctx, d); err != nil || !ok {
		t.Fatalf("HeadBlob after upload = %v, %v", ok, err)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.users) == 0 || tr.users[0] != "alice" || tr.scopes[0] != "repository:a/b:pull,push" {
		t.Fatalf("token requests: users %v scopes %v", tr.users, tr.scopes)
	}
}

// TestBearerAnonymous: without credentials the token only allows pulls; a
// push fails with the registry's 401, not retried as transient.
func TestBearerAnonymous(t *testing.T) {
	tr := newTokenRegistry(t)
	host := strings.TrimPrefix(tr.reg.URL, "http://")
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	ctx := context.Background()
	c, err := Dial(ctx, host, Options{PlainHTTP: true}, PushScope("a/b"))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Repository("a/b")
	if _, err := r.HeadBlob(ctx, digest.FromString("x")); err != nil {
		t.Fatalf("anonymous pull: %v", err)
	}
	_, _, err = r.StartUpload(ctx, "", "")
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusUnauthorized || e.Codes[0] != "UNAUTHORIZED" || Temporary(err) {
		t.Fatalf("anonymous push: %v", err)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, u := range tr.users {
		if u != "" {
			t.Fatalf("credentials sent without a docker config: %v", tr.users)
		}
	}
}

func TestTemporary(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{&Error{Status: 503}, true},
		{&Error{Status: 429}, true},
		{&Error{Status: 500}, true},
		{&Error{Status: 404}, false},
		{&Error{Status: 401}, false},
		{&Error{Status: 501}, false},
		{fmt.Errorf("wrapped: %w", &Error{Status: 502}), true},
		{io.ErrUnexpectedEOF, true},
		{context.Canceled, false},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), false},
		{errors.New("write tcp: connection reset by peer"), true},
		{errors.New("digest mismatch"), false},
		{errors.New("http: ContentLength=5 with Body length 0"), true},
		// Network errors: a refused connection or a timeout may pass; a
		// name that does not resolve, a bad certificate, HTTP asked for
		// HTTPS do not.
		{&url.Error{Op: "Get", URL: "http://x/v2/", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}, true},
		{&url.Error{Op: "Get", URL: "http://x/v2/", Err: &net.DNSError{Err: "i/o timeout", Name: "x", IsTimeout: true}}, true},
		{&url.Error{Op: "Get", URL: "http://nosuch.invalid/v2/", Err: &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "nosuch.invalid", IsNotFound: true}}}, false},
		{fmt.Errorf("ping: %w", &url.Error{Op: "Get", URL: "https://x/v2/", Err: x509.UnknownAuthorityError{}}), false},
		{&url.Error{Op: "Get", URL: "https://x/v2/", Err: errors.New("http: server gave HTTP response to HTTPS client")}, false},
	} {
		if got := Temporary(tt.err); got != tt.want {
			t.Errorf("Temporary(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
