// Package auth decides who may do what on the registry. Clients authenticate
// with HTTP Basic against an htpasswd file (bcrypt only), or with bearer
// tokens: JWTs an external token server issues per the distribution token
// spec, which the registry verifies with the public keys of its
// configuration. What a caller may do is pull, push or delete on a
// repository: given by access rules in the htpasswd mode, by the token's
// access claim in the token mode. Failed logins are rate-limited per client
// address.
package auth

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dfsreg/dfsreg/internal/config"
	"github.com/dfsreg/dfsreg/internal/oci"
	"github.com/dfsreg/dfsreg/internal/ratelimit"
)

// The actions of the distribution token spec on a repository.
const (
	Pull   = "pull"
	Push   = "push"
	Delete = "delete"
	// All stands for every action (in rules and in token access claims).
	All = "*"
)

// Access is a resource and actions on it, as in the token spec's scopes and
// access claims: "repository:NAME:pull,push" or "registry:catalog:*".
type Access struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// Repository is access to the repository name.
func Repository(name string, actions ...string) Access {
	return Access{Type: "repository", Name: name, Actions: actions}
}

// Catalog is access to the list of repositories.
var Catalog = Access{Type: "registry", Name: "catalog", Actions: []string{All}}

// String renders a as a scope.
func (a Access) String() string { return a.Type + ":" + a.Name + ":" + strings.Join(a.Actions, ",") }

// Grant is what a caller, authenticated or anonymous, may do.
type Grant interface {
	// Allows reports whether every action of a is allowed.
	Allows(a Access) bool
	// Lists reports whether repo appears in the caller's catalog.
	Lists(repo string) bool
	// Subject is the authenticated name, "" for an anonymous caller.
	Subject() string
}

// Error is an OCI error answered with response headers: the challenge of a
// 401 (WWW-Authenticate), the Retry-After of a 429.
type Error struct {
	Err    *oci.Error
	Header http.Header
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// ResponseHeader are the headers to send with the error.
func (e *Error) ResponseHeader() http.Header { return e.Header }

// verifier checks credentials of one scheme and answers challenges in it.
type verifier interface {
	// scheme is the Authorization scheme, "Basic" or "Bearer".
	scheme() string
	// verify checks the credentials after the scheme; expired tells a
	// well-formed token past its time from a forgery (not counted as a
	// failed login).
	verify(creds string) (g Grant, expired bool, err error)
	// challenge is the WWW-Authenticate value for need; errCode is "" or an
	// RFC 6750 error (invalid_token, insufficient_scope).
	challenge(need []Access, errCode string) string
	// deniedIsForbidden: a caller authenticated but not allowed gets 403
	// (Basic) rather than 401 insufficient_scope (Bearer: a wider token may
	// be had from the token server).
	deniedIsForbidden() bool
}

// Authorizer authenticates requests and checks what they need.
type Authorizer struct {
	v             verifier
	anonymousPull bool
	limit         *ratelimit.Limiter // failed logins per client key
	log           *slog.Logger
}

// New makes the Authorizer c configures (c.Enabled() must be true).
func New(c config.Auth, log *slog.Logger) (*Authorizer, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Authorizer{anonymousPull: c.AnonymousPull, limit: failedLoginLimiter(c.FailedLogins), log: log}
	switch {
	case c.HTPasswd.Path != "":
		rules, err := NewRules(c.Access, c.Groups)
		if err != nil {
			return nil, err
		}
		h, err := OpenHTPasswd(c.HTPasswd.Path, log)
		if err != nil {
			return nil, err
		}
		a.v = &basic{realm: c.HTPasswd.Realm, users: h, rules: rules, anonymousPull: c.AnonymousPull}
		if len(c.Access) == 0 {
			log.Warn("auth.access has no rules: users can log in but not pull, push or delete (default deny)")
		}
	case c.Token.Realm != "":
		tv, err := NewTokenVerifier(c.Token)
		if err != nil {
			return nil, err
		}
		a.v = &bearer{tv: tv, realm: c.Token.Realm, service: c.Token.Service, anonymousPull: c.AnonymousPull}
	default:
		return nil, errors.New("auth: neither auth.htpasswd.path nor auth.token.realm is set")
	}
	return a, nil
}

// Mode names the authentication scheme, for logs.
func (a *Authorizer) Mode() string { return a.v.scheme() }

// Authorize authenticates r and checks it may do every access in need (none:
// the caller must only be authenticated, as for /v2/). It returns the
// caller's grant, or the error to answer: 401 UNAUTHORIZED with a challenge,
// 403 DENIED, 429 TOOMANYREQUESTS.
func (a *Authorizer) Authorize(r *http.Request, need ...Access) (Grant, error) {
	hdr := r.Header.Get("Authorization")
	if hdr == "" {
		anon := anonymous{pull: a.anonymousPull}
		if len(need) == 0 || !allows(anon, need) {
			return nil, a.unauthorized(need, "", "authentication required")
		}
		return anon, nil
	}
	scheme, creds, _ := strings.Cut(hdr, " ")
	if !strings.EqualFold(scheme, a.v.scheme()) {
		return nil, a.unauthorized(need, "", "authenticate with "+a.v.scheme())
	}
	addr := ratelimit.ClientKey(r.RemoteAddr)
	if wait := a.limit.Wait(addr); wait > 0 {
		secs := int((wait + time.Second - 1) / time.Second)
		return nil, &Error{
			Err:    oci.Err(oci.CodeTooManyRequests, "too many failed logins from this address: retry in %d s", secs),
			Header: http.Header{"Retry-After": {strconv.Itoa(secs)}},
		}
	}
	g, expired, err := a.v.verify(strings.TrimSpace(creds))
	if err != nil {
		if expired {
			return nil, a.unauthorized(need, "invalid_token", "the token has expired")
		}
		a.limit.Allow(addr) // counts the failure: takes a token
		a.log.Warn("failed login", "addr", addr, "scheme", a.v.scheme(), "err", err)
		return nil, a.unauthorized(need, "invalid_token", "invalid credentials")
	}
	if allows(g, need) {
		return g, nil
	}
	if a.v.deniedIsForbidden() {
		return nil, oci.Err(oci.CodeDenied, "access denied: user %q may not %s", g.Subject(), describe(need))
	}
	return nil, a.unauthorized(need, "insufficient_scope", "the token does not grant "+describe(need))
}

func (a *Authorizer) unauthorized(need []Access, errCode, msg string) error {
	return &Error{
		Err:    oci.Err(oci.CodeUnauthorized, "%s", msg).WithDetail(detail(need)),
		Header: http.Header{"Www-Authenticate": {a.v.challenge(need, errCode)}},
	}
}

func allows(g Grant, need []Access) bool {
	for _, n := range need {
		if !g.Allows(n) {
			return false
		}
	}
	return true
}

func describe(need []Access) string {
	s := make([]string, len(need))
	for i, n := range need {
		s[i] = n.String()
	}
	return strings.Join(s, " ")
}

// detail is the envelope's detail: the accesses needed, as the token spec's
// access entries (as distribution does).
func detail(need []Access) any {
	if len(need) == 0 {
		return nil
	}
	return need
}

// failedLoginLimiter bounds failed logins per client key (the IPv4
// address or IPv6 /64 of the request's RemoteAddr, see ratelimit.ClientKey:
// the peer, or behind a trusted proxy the client it names, see realip): a
// bucket of Max failures refilled at Max per Window.
// Each failure takes a token; a client whose bucket is empty is refused
// before its credentials are checked. Successes take nothing.
func failedLoginLimiter(f config.FailedLogins) *ratelimit.Limiter {
	return ratelimit.New(float64(f.Max)/f.Window.Seconds(), f.Max)
}

// quote renders s as an RFC 7235 quoted-string.
func quote(s string) string {
	return strconv.Quote(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s))
}

// anonymous is a caller without credentials.
type anonymous struct{ pull bool }

func (g anonymous) Allows(a Access) bool {
	if a.Type == Catalog.Type && a.Name == Catalog.Name {
		return g.pull // the catalog of what anonymous callers may pull
	}
	return g.pull && a.Type == "repository" && !slices.ContainsFunc(a.Actions, func(x string) bool { return x != Pull })
}
func (g anonymous) Lists(string) bool { return g.pull }
func (anonymous) Subject() string     { return "" }

// basic is the htpasswd mode.
type basic struct {
	realm         string
	users         *HTPasswd
	rules         *Rules
	anonymousPull bool
}

func (*basic) scheme() string          { return "Basic" }
func (*basic) deniedIsForbidden() bool { return true }

func (b *basic) challenge([]Access, string) string {
	return "Basic realm=" + quote(b.realm) + `, charset="UTF-8"`
}

func (b *basic) verify(creds string) (Grant, bool, error) {
	user, pass, err := decodeBasic(creds)
	if err != nil {
		return nil, false, err
	}
	if !b.users.Verify(user, pass) {
		return nil, false, fmt.Errorf("user %q: wrong name or password", user)
	}
	return &userGrant{user: user, rules: b.rules, anonymousPull: b.anonymousPull}, false, nil
}

// userGrant is what an htpasswd user may do: the rules, plus what anonymous
// callers may.
type userGrant struct {
	user          string
	rules         *Rules
	anonymousPull bool
}

func (g *userGrant) Allows(a Access) bool {
	switch {
	case a.Type == "registry" && a.Name == "catalog":
		return true // every user has a catalog: of what it may pull
	case a.Type != "repository":
		return false
	}
	for _, act := range a.Actions {
		if !(act == Pull && g.anonymousPull) && !g.rules.Allowed(g.user, a.Name, act) {
			return false
		}
	}
	return true
}

func (g *userGrant) Lists(repo string) bool { return g.Allows(Repository(repo, Pull)) }
func (g *userGrant) Subject() string        { return g.user }
