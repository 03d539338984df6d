package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/dfsreg/dfsreg/internal/config"
)

// tokenKeys are a token server's keys for the tests: an ECDSA key given to
// the registry as a public key, an RSA key given as a self-signed
// certificate, a CA certificate that signs x5c leaves, and an unrelated key.
type tokenKeys struct {
	ec, other   *ecdsa.PrivateKey
	rsa         *rsa.PrivateKey
	ca          *x509.Certificate
	caKey       *ecdsa.PrivateKey
	bundle      string // PEM file path
	issuer, svc string
}

func newTokenKeys(t testing.TB) *tokenKeys {
	t.Helper()
	k := &tokenKeys{issuer: "test-issuer", svc: "test-registry"}
	var err error
	k.ec, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k.other, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k.caKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	var pemData []byte
	der, err := x509.MarshalPKIXPublicKey(&k.ec.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemData = append(pemData, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})...)
	pemData = append(pemData, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: selfSigned(t, k.rsa, &k.rsa.PublicKey, true)})...)
	caDER := selfSigned(t, k.caKey, &k.caKey.PublicKey, true)
	k.ca, _ = x509.ParseCertificate(caDER)
	pemData = append(pemData, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...)
	k.bundle = filepath.Join(t.TempDir(), "bundle.pem")
	if err := os.WriteFile(k.bundle, pemData, 0o600); err != nil {
		t.Fatal(err)
	}
	return k
}

var serial int64

func selfSigned(t testing.TB, signer crypto.Signer, pub any, ca bool) []byte {
	t.Helper()
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "token signer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: ca, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// leafCert is a certificate for key signed by signer's CA certificate.
func leafCert(t *testing.T, ca *x509.Certificate, caKey crypto.Signer, pub any) []byte {
	t.Helper()
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "leaf"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func (k *tokenKeys) config() config.Token {
	return config.Token{Realm: "http://127.0.0.1:1/token", Service: k.svc, Issuer: k.issuer, RootCertBundle: k.bundle}
}

func (k *tokenKeys) claims(access ...Access) TokenClaims {
	now := time.Now()
	return TokenClaims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: k.issuer, Subject: "alice", Audience: jwt.ClaimStrings{k.svc},
		ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute)), NotBefore: jwt.NewNumericDate(now.Add(-time.Second)),
		IssuedAt: jwt.NewNumericDate(now),
	}, Access: access}
}

func sign(t *testing.T, m jwt.SigningMethod, key any, c TokenClaims, hdr map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	for k, v := range hdr {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTokenVerify(t *testing.T) {
	k := newTokenKeys(t)
	v, err := NewTokenVerifier(k.config())
	if err != nil {
		t.Fatal(err)
	}
	pushA := Repository("team/a", Pull, Push)
	good := k.claims(pushA)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := leafCert(t, k.ca, k.caKey, &leafKey.PublicKey)
	strangerCA := selfSigned(t, k.other, &k.other.PublicKey, true)
	strangerCert, _ := x509.ParseCertificate(strangerCA)
	strangerLeaf := leafCert(t, strangerCert, k.other, &leafKey.PublicKey)
	b64 := base64.StdEncoding.EncodeToString
	mod := func(f func(c *TokenClaims)) TokenClaims {
		c := k.claims(pushA)
		f(&c)
		return c
	}
	for _, tc := range []struct {
		name    string
		token   string
		err     string
		expired bool
	}{
		{name: "ES256 with the public key", token: sign(t, jwt.SigningMethodES256, k.ec, good, nil)},
		{name: "RS256 with the certificate", token: sign(t, jwt.SigningMethodRS256, k.rsa, good, map[string]any{"kid": "ABCD:EFGH"})},
		{name: "x5c chain to a bundle certificate", token: sign(t, jwt.SigningMethodES256, leafKey, good, map[string]any{"x5c": []string{b64(leaf)}})},
		{name: "x5c chain to a stranger", token: sign(t, jwt.SigningMethodES256, leafKey, good, map[string]any{"x5c": []string{b64(strangerLeaf)}}), err: "x5c"},
		{name: "wrong key", token: sign(t, jwt.SigningMethodES256, k.other, good, nil), err: "signature is invalid"},
		{name: "HS256 (symmetric) refused", token: sign(t, jwt.SigningMethodHS256, []byte("secret"), good, nil), err: "signing method HS256 is invalid"},
		{name: "none refused", token: sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good, nil), err: "signing method none is invalid"},
		{name: "expired", token: sign(t, jwt.SigningMethodES256, k.ec, mod(func(c *TokenClaims) { c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour)) }), nil), err: "expired", expired: true},
		{name: "within leeway", token: sign(t, jwt.SigningMethodES256, k.ec, mod(func(c *TokenClaims) { c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-5 * time.Second)) }), nil)},
		{name: "not yet valid", token: sign(t, jwt.SigningMethodES256, k.ec, mod(func(c *TokenClaims) { c.NotBefore = jwt.NewNumericDate(time.Now().Add(time.Hour)) }), nil), err: "not valid yet", expired: true},
		{name: "no exp", token: sign(t, jwt.SigningMethodES256, k.ec, mod(func(c *TokenClaims) { c.ExpiresAt = nil }), nil), err: "exp claim is required"},
		{name: "wrong issuer", token: sign(t, jwt.SigningMethodES256, k.ec, mod(func(c *TokenClaims) { c.Issuer = "evil" }), nil), err: "issuer"},
		{name: "wrong audience", token: sign(t, jwt.SigningMethodES256, k.ec, mod(func(c *TokenClaims) { c.Audience = jwt.ClaimStrings{"other-registry"} }), nil), err: "audience"},
		{name: "tampered", token: func() string {
			s := sign(t, jwt.SigningMethodES256, k.ec, good, nil)
			parts := strings.Split(s, ".")
			parts[1] = base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"test-issuer","aud":"test-registry","exp":9999999999,"access":[{"type":"repository","name":"*","actions":["*"]}]}`))
			return strings.Join(parts, ".")
		}(), err: "signature is invalid"},
		{name: "garbage", token: "not.a.jwt", err: "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(tc.token)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				if errors.Is(err, ErrExpired) != tc.expired {
					t.Fatalf("ErrExpired: %v, want %v", errors.Is(err, ErrExpired), tc.expired)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Access) != 1 || c.Access[0].String() != "repository:team/a:pull,push" {
				t.Fatalf("access %+v", c.Access)
			}
		})
	}
}

// TestTokenCache checks that a token verified once (and remembered) is
// refused once it expires, and that a remembered token is the same token.
func TestTokenCache(t *testing.T) {
	k := newTokenKeys(t)
	v, err := NewTokenVerifier(k.config())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	v.Now = func() time.Time { return now }
	c := k.claims(Repository("team/a", Pull))
	c.ExpiresAt = jwt.NewNumericDate(now.Add(20 * time.Second))
	tok := sign(t, jwt.SigningMethodES256, k.ec, c, nil)
	for i := range 2 {
		if _, err := v.Verify(tok); err != nil {
			t.Fatalf("verify %d: %v", i, err)
		}
	}
	if _, err := v.Verify(tok[:len(tok)-2] + "AA"); err == nil {
		t.Fatal("a changed signature passed")
	}
	now = now.Add(20*time.Second + leeway + time.Second)
	if _, err := v.Verify(tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("after exp: %v", err)
	}
}

func TestTokenGrant(t *testing.T) {
	c := &TokenClaims{Access: []Access{
		Repository("team/a", Pull, Push),
		Repository("team/b", All),
		{Type: "registry", Name: "catalog", Actions: []string{All}},
	}}
	g := &tokenGrant{claims: c}
	for _, tc := range []struct {
		a    Access
		want bool
	}{
		{Repository("team/a", Pull), true},
		{Repository("team/a", Pull, Push), true},
		{Repository("team/a", Delete), false},
		{Repository("team/b", Delete, Push), true},
		{Repository("team/c", Pull), false},
		{Repository("team/*", Pull), false}, // names are not globs
		{Catalog, true},
		{Access{Type: "repository", Name: "catalog", Actions: []string{Pull}}, false},
	} {
		if got := g.Allows(tc.a); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.a, got, tc.want)
		}
	}
	if !g.Lists("anything") {
		t.Error("a catalog token lists every repository")
	}
	g2 := &tokenGrant{claims: &TokenClaims{}, anonymousPull: true}
	if !g2.Allows(Repository("x", Pull)) || g2.Allows(Repository("x", Push)) || g2.Lists("x") != true {
		t.Error("anonymous pull with an empty token")
	}
	if (&tokenGrant{claims: &TokenClaims{}}).Lists("x") {
		t.Error("an empty token lists nothing")
	}
}

func TestTokenBundle(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.pem")
	os.WriteFile(empty, []byte("not pem\n"), 0o600)
	for _, tc := range []struct{ path, want string }{
		{empty, "no PEM certificate or public key"},
		{filepath.Join(dir, "missing.pem"), "no such file"},
	} {
		if _, err := NewTokenVerifier(config.Token{RootCertBundle: tc.path}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.path, err, tc.want)
		}
	}
}
