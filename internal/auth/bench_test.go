package auth

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/dfsreg/dfsreg/internal/config"
)

// BenchmarkAuthorize measures what authentication adds to a request: Basic
// with the default bcrypt cost, the first time (bcrypt) and again (cached),
// and a bearer token (signature check).
func BenchmarkAuthorize(b *testing.B) {
	path := filepath.Join(b.TempDir(), "htpasswd")
	hash, _ := bcrypt.GenerateFromPassword([]byte("alicepw"), bcrypt.DefaultCost)
	os.WriteFile(path, []byte("alice:"+string(hash)+"\n"), 0o600)
	fl := config.FailedLogins{Max: 10, Window: time.Minute}
	basicA, err := New(config.Auth{HTPasswd: config.HTPasswd{Path: path},
		Access: []config.AccessRule{{Repository: "team/**", Users: []string{"alice"}, Actions: []string{"*"}}}, FailedLogins: fl}, nil)
	if err != nil {
		b.Fatal(err)
	}
	need := Repository("team/app", Pull, Push)
	r := req(basicHdr("alice", "alicepw"))
	b.Run("basic-bcrypt", func(b *testing.B) {
		for b.Loop() {
			basicA.v.(*basic).users.cacheMu.Lock()
			clear(basicA.v.(*basic).users.cache)
			basicA.v.(*basic).users.cacheMu.Unlock()
			if _, err := basicA.Authorize(r, need); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("basic-cached", func(b *testing.B) {
		for b.Loop() {
			if _, err := basicA.Authorize(r, need); err != nil {
				b.Fatal(err)
			}
		}
	})
	k := newTokenKeys(b)
	tokA, err := New(config.Auth{Token: k.config(), FailedLogins: fl}, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range []struct {
		name string
		m    jwt.SigningMethod
		key  any
	}{{"bearer-ES256", jwt.SigningMethodES256, k.ec}, {"bearer-RS256", jwt.SigningMethodRS256, k.rsa}} {
		s, err := jwt.NewWithClaims(m.m, k.claims(need)).SignedString(m.key)
		if err != nil {
			b.Fatal(err)
		}
		r := req("Bearer " + s)
		b.Run(m.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := tokA.Authorize(r, need); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
