package main

// testscript commands for the authentication workflows: htpasswd writes
// bcrypt entries; tokenserver runs a token server of the distribution token
// spec (tests only) that signs JWTs the registry verifies.

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/crypto/bcrypt"

	"github.com/dfsreg/dfsreg/internal/auth"
)

// htpasswd FILE USER PASS: add USER to the htpasswd FILE (bcrypt), or
// change its password.
func cmdHtpasswd(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "htpasswd")
	if len(args) != 3 {
		usage(ts, "htpasswd FILE USER PASS")
	}
	file := ts.MkAbs(args[0])
	hash, err := bcrypt.GenerateFromPassword([]byte(args[2]), bcrypt.MinCost)
	ts.Check(err)
	var lines []string
	if data, err := os.ReadFile(file); err == nil {
		for l := range strings.Lines(string(data)) {
			if u, _, _ := strings.Cut(l, ":"); u != args[1] {
				lines = append(lines, strings.TrimRight(l, "\n"))
			}
		}
	}
	lines = append(lines, args[1]+":"+string(hash))
	ts.Check(os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
}

// tokenserver POLICY PUBKEY: start a token server on loopback for the rest
// of the script. It signs ES256 JWTs with a key it makes, whose public key it
// writes to PUBKEY (PEM), and sets TOKEN_REALM to its URL (on localhost). It answers GET
// realm?service=&scope= (HTTP Basic credentials or none) and the OAuth2
// password grant (POST) with {"token", "access_token"}, granting of the
// scopes asked what POLICY allows. POLICY is re-read on every request:
//
//	ttl DURATION              lifetime of tokens (negative: already expired)
//	user NAME PASSWORD
//	grant NAME|* GLOB ACTIONS  (* = anyone, anonymous included; GLOB _catalog
//	                            grants registry:catalog:*)
//
// Every token request is logged to POLICY.log: "SUBJECT SCOPE -> ACTIONS".
func cmdTokenServer(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "tokenserver")
	if len(args) != 2 {
		usage(ts, "tokenserver POLICY PUBKEY")
	}
	policy := ts.MkAbs(args[0])
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ts.Check(err)
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	s := &tokenServer{policy: policy, key: key}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	ts.Defer(func() { srv.Close() })
	// A host name, not 127.0.0.1: crane refuses realms at private IP
	// literals other than the registry's own host:port (SSRF guard).
	ts.Setenv("TOKEN_REALM", fmt.Sprintf("http://localhost:%d/token", ln.Addr().(*net.TCPAddr).Port))
}

type tokenServer struct {
	policy string
	key    *ecdsa.PrivateKey
	mu     sync.Mutex
}

type tokenPolicy struct {
	ttl    time.Duration
	users  map[string]string
	grants []tokenGrant
}

type tokenGrant struct {
	who, glob string
	actions   []string
}

func (s *tokenServer) readPolicy() (*tokenPolicy, error) {
	f, err := os.Open(s.policy)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p := &tokenPolicy{ttl: 5 * time.Minute, users: map[string]string{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		switch {
		case len(fs) == 0 || strings.HasPrefix(fs[0], "#"):
		case fs[0] == "ttl" && len(fs) == 2:
			if p.ttl, err = time.ParseDuration(fs[1]); err != nil {
				return nil, err
			}
		case fs[0] == "user" && len(fs) == 3:
			p.users[fs[1]] = fs[2]
		case fs[0] == "grant" && len(fs) == 4:
			p.grants = append(p.grants, tokenGrant{fs[1], fs[2], strings.Split(fs[3], ",")})
		default:
			return nil, fmt.Errorf("policy: bad line %q", sc.Text())
		}
	}
	return p, sc.Err()
}

// globMatch: "**" matches across "/", path.Match otherwise.
func globMatch(glob, name string) bool {
	if prefix, ok := strings.CutSuffix(glob, "**"); ok {
		return strings.HasPrefix(name, prefix)
	}
	ok, _ := path.Match(glob, name)
	return ok
}

func (s *tokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.readPolicy()
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	q := r.URL.Query()
	user, pass, hasCreds := r.BasicAuth()
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "password" {
			http.Error(w, `{"error":"unsupported_grant_type"}`, http.StatusBadRequest)
			return
		}
		q = r.PostForm
		user, pass, hasCreds = q.Get("username"), q.Get("password"), true
	}
	if hasCreds {
		want, ok := p.users[user]
		if !ok || subtle.ConstantTimeCompare([]byte(want), []byte(pass)) != 1 {
			http.Error(w, `{"details":"wrong user name or password"}`, http.StatusUnauthorized)
			return
		}
	} else {
		user = ""
	}
	service := q.Get("service")
	var access []auth.Access
	log, err := os.OpenFile(s.policy+".log", os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	defer log.Close()
	for _, sc := range q["scope"] {
		for _, one := range strings.Fields(sc) {
			typ, rest, _ := strings.Cut(one, ":")
			i := strings.LastIndexByte(rest, ':')
			if i < 0 {
				continue
			}
			name, acts := rest[:i], strings.Split(rest[i+1:], ",")
			var granted []string
			for _, g := range p.grants {
				if g.who != "*" && g.who != user {
					continue
				}
				if typ == "registry" && name == "catalog" && g.glob == "_catalog" ||
					typ == "repository" && g.glob != "_catalog" && globMatch(g.glob, name) {
					for _, a := range acts {
						if (slices.Contains(g.actions, a) || slices.Contains(g.actions, "*")) && !slices.Contains(granted, a) {
							granted = append(granted, a)
						}
					}
				}
			}
			fmt.Fprintf(log, "%s %s -> %s\n", orDefault(user, "(anonymous)"), one, strings.Join(granted, ","))
			if len(granted) > 0 {
				access = append(access, auth.Access{Type: typ, Name: name, Actions: granted})
			}
		}
	}
	if len(q["scope"]) == 0 {
		fmt.Fprintf(log, "%s (no scope)\n", orDefault(user, "(anonymous)"))
	}
	now := time.Now()
	var jti [8]byte
	rand.Read(jti[:])
	tok, err := jwt.NewWithClaims(jwt.SigningMethodES256, auth.TokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: "dfsreg-test-issuer", Subject: user, Audience: jwt.ClaimStrings{service},
			ExpiresAt: jwt.NewNumericDate(now.Add(p.ttl)), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
			IssuedAt: jwt.NewNumericDate(now), ID: hex.EncodeToString(jti[:]),
		},
		Access: access,
	}).SignedString(s.key)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"token": tok, "access_token": tok, "expires_in": 300, "issued_at": now.UTC().Format(time.RFC3339),
	})
}

func orDefault(s, dflt string) string {
	if s == "" {
		return dflt
	}
	return s
}
