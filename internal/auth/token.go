package auth

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/dfsreg/dfsreg/internal/config"
)

// TokenVerifier verifies bearer tokens of the distribution token spec: JWTs
// signed (RS*, PS*, ES*, EdDSA) by a key of the root bundle, or by a
// certificate chain (x5c header) that leads to one of its certificates, with
// iss = the issuer, aud = the service, and a current exp/nbf.
type TokenVerifier struct {
	issuer, service string
	keys            []jwt.VerificationKey
	roots           *x509.CertPool
	// Now is the clock (tests set it).
	Now func() time.Time

	// verified remembers tokens whose signature held (by SHA-256), until
	// their exp or a minute, whichever comes first: a client sends the same
	// token with every request of a push or pull.
	mu       sync.Mutex
	verified map[[32]byte]verifiedToken
}

type verifiedToken struct {
	claims *TokenClaims
	until  time.Time
}

// leeway absorbs clock skew between the token server and the registry.
const leeway = 30 * time.Second

var tokenMethods = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// TokenClaims are the claims dfsreg reads from a token.
type TokenClaims struct {
	jwt.RegisteredClaims
	Access []Access `json:"access"`
}

// NewTokenVerifier loads the root bundle of c: PEM certificates (their keys
// verify tokens, and they anchor x5c chains) and PEM public keys.
func NewTokenVerifier(c config.Token) (*TokenVerifier, error) {
	data, err := os.ReadFile(c.RootCertBundle)
	if err != nil {
		return nil, fmt.Errorf("auth.token.rootcertbundle: %w", err)
	}
	v := &TokenVerifier{issuer: c.Issuer, service: c.Service, roots: x509.NewCertPool(), Now: time.Now, verified: map[[32]byte]verifiedToken{}}
	for len(data) > 0 {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE":
			cert, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("auth.token.rootcertbundle %s: %w", c.RootCertBundle, err)
			}
			v.keys = append(v.keys, cert.PublicKey)
			v.roots.AddCert(cert)
		case "PUBLIC KEY":
			k, err := x509.ParsePKIXPublicKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("auth.token.rootcertbundle %s: %w", c.RootCertBundle, err)
			}
			v.keys = append(v.keys, k)
		}
	}
	if len(v.keys) == 0 {
		return nil, fmt.Errorf("auth.token.rootcertbundle %s: no PEM certificate or public key", c.RootCertBundle)
	}
	return v, nil
}

// ErrExpired is a well-signed token past its exp (or before its nbf).
var ErrExpired = errors.New("token expired or not yet valid")

// Verify checks raw and returns its claims.
func (v *TokenVerifier) Verify(raw string) (*TokenClaims, error) {
	sum := sha256.Sum256([]byte(raw))
	now := v.Now()
	v.mu.Lock()
	hit, ok := v.verified[sum]
	v.mu.Unlock()
	if ok && now.Before(hit.until) {
		return hit.claims, nil
	}
	var claims TokenClaims
	_, err := jwt.ParseWithClaims(raw, &claims, v.key,
		jwt.WithValidMethods(tokenMethods),
		jwt.WithIssuer(v.issuer),
		jwt.WithAudience(v.service),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(v.Now),
	)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) || errors.Is(err, jwt.ErrTokenNotValidYet) {
			// Only a token whose signature held gets here.
			return nil, fmt.Errorf("%w: %v", ErrExpired, err)
		}
		return nil, err
	}
	v.mu.Lock()
	if len(v.verified) >= cacheMax {
		clear(v.verified)
	}
	until := now.Add(cacheTTL)
	if exp := claims.ExpiresAt.Add(leeway); exp.Before(until) {
		until = exp
	}
	v.verified[sum] = verifiedToken{&claims, until}
	v.mu.Unlock()
	return &claims, nil
}

// key picks the verification key: the leaf of a valid x5c chain, else every
// key of the bundle.
func (v *TokenVerifier) key(t *jwt.Token) (any, error) {
	x5c, ok := t.Header["x5c"].([]any)
	if !ok || len(x5c) == 0 {
		return jwt.VerificationKeySet{Keys: v.keys}, nil
	}
	var chain []*x509.Certificate
	for _, c := range x5c {
		s, ok := c.(string)
		if !ok {
			return nil, errors.New("x5c: not a list of strings")
		}
		der, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("x5c: %w", err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("x5c: %w", err)
		}
		chain = append(chain, cert)
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: v.roots, Intermediates: inter, CurrentTime: v.Now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return nil, fmt.Errorf("x5c: %w", err)
	}
	return chain[0].PublicKey, nil
}

// bearer is the token mode.
type bearer struct {
	tv             *TokenVerifier
	realm, service string
	anonymousPull  bool
}

func (*bearer) scheme() string          { return "Bearer" }
func (*bearer) deniedIsForbidden() bool { return false }

func (b *bearer) challenge(need []Access, errCode string) string {
	var s strings.Builder
	s.WriteString("Bearer realm=" + quote(b.realm) + ",service=" + quote(b.service))
	if len(need) > 0 {
		s.WriteString(",scope=" + quote(describe(need)))
	}
	if errCode != "" {
		s.WriteString(",error=" + quote(errCode))
	}
	return s.String()
}

func (b *bearer) verify(creds string) (Grant, bool, error) {
	c, err := b.tv.Verify(creds)
	if err != nil {
		return nil, errors.Is(err, ErrExpired), err
	}
	return &tokenGrant{claims: c, anonymousPull: b.anonymousPull}, false, nil
}

// tokenGrant is what a token's access claim grants (plus anonymous pull).
type tokenGrant struct {
	claims        *TokenClaims
	anonymousPull bool
}

func (g *tokenGrant) Allows(a Access) bool {
	for _, act := range a.Actions {
		if act == Pull && a.Type == "repository" && g.anonymousPull {
			continue
		}
		if !slices.ContainsFunc(g.claims.Access, func(c Access) bool {
			return c.Type == a.Type && c.Name == a.Name && (slices.Contains(c.Actions, act) || slices.Contains(c.Actions, All))
		}) {
			return false
		}
	}
	return true
}

// Lists: a token granted the catalog lists every repository (the token
// server decided); otherwise those it may pull.
func (g *tokenGrant) Lists(repo string) bool {
	return g.Allows(Catalog) || g.Allows(Repository(repo, Pull))
}

func (g *tokenGrant) Subject() string {
	if g.claims.Subject == "" {
		return "(token)"
	}
	return g.claims.Subject
}
