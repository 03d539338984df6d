package servetest

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/dfsreg/dfsreg/internal/auth"
	"github.com/dfsreg/dfsreg/internal/config"
	"github.com/dfsreg/dfsreg/internal/serve"
	"github.com/dfsreg/dfsreg/internal/store"
)

// BenchmarkManifestGetByTagAuth is BenchmarkManifestGetByTag with HTTP Basic
// authentication (credentials verified once, then remembered) and an access
// rule: what authentication adds to the hottest request.
func BenchmarkManifestGetByTagAuth(b *testing.B) {
	st, err := store.Open(context.Background(), store.Options{Root: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	benchImage(b, serve.New(st, serve.Options{}))
	path := filepath.Join(b.TempDir(), "htpasswd")
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.DefaultCost)
	os.WriteFile(path, []byte("alice:"+string(hash)+"\n"), 0o600)
	a, err := auth.New(config.Auth{
		HTPasswd:     config.HTPasswd{Path: path},
		Access:       []config.AccessRule{{Repository: "bench/*", Users: []string{"alice"}, Actions: []string{"pull"}}},
		FailedLogins: config.FailedLogins{Max: 10, Window: time.Minute},
	}, nil)
	if err != nil {
		b.Fatal(err)
	}
	h := serve.New(st, serve.Options{Authorizer: a})
	req := httptest.NewRequest(http.MethodGet, "/v2/"+benchRepo+"/manifests/latest", nil)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("alice:pw")))
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		w.reset()
		h.ServeHTTP(w, req)
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
}
