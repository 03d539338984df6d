package servetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/dfsreg/dfsreg/internal/auth"
	"github.com/dfsreg/dfsreg/internal/config"
	"github.com/dfsreg/dfsreg/internal/oci"
	"github.com/dfsreg/dfsreg/internal/serve"
	"github.com/dfsreg/dfsreg/internal/store"
)

// RunAuthBattery runs the authentication rows: the API with an htpasswd
// authorizer and with a token authorizer, each over a fresh store.
func RunAuthBattery(t *testing.T, newStore func(t *testing.T) *store.Store) {
	t.Run("htpasswd", func(t *testing.T) { runBasicRows(t, newStore(t)) })
	t.Run("token", func(t *testing.T) { runTokenRows(t, newStore(t)) })
}

func startAuthServer(t *testing.T, st *store.Store, c config.Auth) *battery {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError}))
	a, err := auth.New(c, log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(serve.New(st, serve.Options{Logger: log, Authorizer: a}))
	t.Cleanup(srv.Close)
	return &battery{addr: srv.Listener.Addr().String(), vars: map[string]string{}}
}

func basicAuth(user, pass string) string {
	return "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// catalogIs checks the catalog body lists exactly repos.
func catalogIs(repos ...string) func(*testing.T, http.Header, []byte) {
	return func(t *testing.T, _ http.Header, body []byte) {
		t.Helper()
		var c struct {
			Repositories []string `json:"repositories"`
		}
		if err := json.Unmarshal(body, &c); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.Repositories, repos) {
			t.Fatalf("catalog %v, want %v", c.Repositories, repos)
		}
	}
}

func runBasicRows(t *testing.T, st *store.Store) {
	dir := t.TempDir()
	var lines []byte
	for _, u := range []string{"alice", "bob", "carol"} {
		h, err := bcrypt.GenerateFromPassword([]byte(u+"pw"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, u+":"+string(h)+"\n"...)
	}
	path := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(path, lines, 0o600); err != nil {
		t.Fatal(err)
	}
	b := startAuthServer(t, st, config.Auth{
		HTPasswd: config.HTPasswd{Path: path, Realm: "battery"},
		Groups:   []config.Group{{Name: "readers", Users: []string{"bob", "carol"}}},
		Access: []config.AccessRule{
			{Repository: "**", Users: []string{"alice"}, Actions: []string{"*"}},
			{Repository: "team/*", Groups: []string{"readers"}, Actions: []string{"pull"}},
			{Repository: "carol/*", Users: []string{"carol"}, Actions: []string{"pull", "push"}},
		},
		FailedLogins: config.FailedLogins{Max: 3, Window: time.Minute},
	})
	alice, bob, carol := basicAuth("alice", "alicepw"), basicAuth("bob", "bobpw"), basicAuth("carol", "carolpw")
	challenge := map[string]string{"WWW-Authenticate": `Basic realm="battery", charset="UTF-8"`}
	noChallenge := map[string]string{"WWW-Authenticate": ""}
	cfg := newBlob([]byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
	secret := newBlob(pattern(1000, 7))
	man := newBlob(mustJSON(manifestOf(mtManifest, cfg.desc(mtConfig))))
	push := func(who, repo string, bl blob) row {
		return row{name: "push blob to " + repo, method: "POST", target: "/v2/" + repo + "/blobs/uploads/?digest=" + bl.d.String(), hdr: []string{who}, send: bl.b, status: 201}
	}
	b.run(t, "basic", []row{
		{name: "GET /v2/ without credentials", method: "GET", target: "/v2/", status: 401, code: oci.CodeUnauthorized, want: challenge},
		{name: "HEAD /v2/ without credentials", method: "HEAD", target: "/v2/", status: 401, want: challenge},
		{name: "GET /v2/ as alice", method: "GET", target: "/v2/", hdr: []string{alice}, status: 200, want: noChallenge},
		{name: "GET /v2/ as bob, who may do little", method: "GET", target: "/v2/", hdr: []string{bob}, status: 200},
		push(alice, "team/app", cfg),
		push(alice, "private/x", secret),
		push(alice, "private/x", cfg),
		{name: "PUT manifest as alice", method: "PUT", target: "/v2/team/app/manifests/v1", hdr: []string{alice, ct(mtManifest)}, send: man.b, status: 201},
		{name: "PUT manifest as alice into private/x", method: "PUT", target: "/v2/private/x/manifests/v1", hdr: []string{alice, ct(mtManifest)}, send: man.b, status: 201},
		{name: "PUT manifest as bob (pull only)", method: "PUT", target: "/v2/team/app/manifests/v2", hdr: []string{bob, ct(mtManifest)}, send: man.b,
			status: 403, code: oci.CodeDenied, want: noChallenge},
		{name: "POST upload as bob", method: "POST", target: "/v2/team/app/blobs/uploads/", hdr: []string{bob}, status: 403, code: oci.CodeDenied},
		{name: "POST upload as alice", method: "POST", target: "/v2/team/app/blobs/uploads/", hdr: []string{alice}, status: 202, save: map[string]string{"loc": "Location"}},
		{name: "GET alice's upload as bob", method: "GET", target: "{loc}", hdr: []string{bob}, status: 403, code: oci.CodeDenied},
		{name: "PATCH alice's upload without credentials", method: "PATCH", target: "{loc}", send: []byte("x"), status: 401, code: oci.CodeUnauthorized, want: challenge},
		{name: "DELETE alice's upload as alice", method: "DELETE", target: "{loc}", hdr: []string{alice}, status: 204},
		{name: "GET manifest as bob", method: "GET", target: "/v2/team/app/manifests/v1", hdr: []string{bob, "Accept: " + mtManifest}, status: 200},
		{name: "HEAD manifest without credentials", method: "HEAD", target: "/v2/team/app/manifests/v1", status: 401, want: challenge},
		{name: "GET manifest with a wrong password", method: "GET", target: "/v2/team/app/manifests/v1", hdr: []string{basicAuth("bob", "alicepw")},
			status: 401, code: oci.CodeUnauthorized, want: challenge},
		{name: "GET blob of another repository as bob", method: "GET", target: "/v2/private/x/blobs/" + secret.d.String(), hdr: []string{bob}, status: 403, code: oci.CodeDenied},
		{name: "GET tags as bob", method: "GET", target: "/v2/team/app/tags/list", hdr: []string{bob}, status: 200, check: jsonBody(`{"name":"team/app","tags":["v1"]}`)},
		{name: "DELETE manifest as bob", method: "DELETE", target: "/v2/team/app/manifests/v1", hdr: []string{bob}, status: 403, code: oci.CodeDenied},
		{name: "DELETE blob as carol", method: "DELETE", target: "/v2/team/app/blobs/" + cfg.d.String(), hdr: []string{carol}, status: 403, code: oci.CodeDenied},
		{name: "referrers as bob", method: "GET", target: "/v2/team/app/referrers/" + man.d.String(), hdr: []string{bob}, status: 200},
		{name: "referrers without credentials", method: "GET", target: "/v2/team/app/referrers/" + man.d.String(), status: 401, code: oci.CodeUnauthorized},

		// The catalog lists what the caller may pull.
		{name: "catalog as alice", method: "GET", target: "/v2/_catalog", hdr: []string{alice}, status: 200, check: catalogIs("private/x", "team/app")},
		{name: "catalog as bob", method: "GET", target: "/v2/_catalog", hdr: []string{bob}, status: 200, check: catalogIs("team/app")},
		{name: "catalog as bob, n=1", method: "GET", target: "/v2/_catalog?n=1", hdr: []string{bob}, status: 200, check: catalogIs("team/app"), want: map[string]string{"Link": ""}},
		{name: "catalog without credentials", method: "GET", target: "/v2/_catalog", status: 401, code: oci.CodeUnauthorized, want: challenge},

		// A mount needs pull on "from": else an upload session, not the blob.
		{name: "carol mounts from a repository she may not pull", method: "POST", target: "/v2/carol/x/blobs/uploads/?mount=" + secret.d.String() + "&from=private/x", hdr: []string{carol},
			status: 202, want: map[string]string{"Docker-Content-Digest": ""}},
		{name: "...the blob did not arrive", method: "HEAD", target: "/v2/carol/x/blobs/" + secret.d.String(), hdr: []string{carol}, status: 404},
		{name: "carol mounts from a repository she may pull", method: "POST", target: "/v2/carol/x/blobs/uploads/?mount=" + cfg.d.String() + "&from=team/app", hdr: []string{carol},
			status: 201, want: map[string]string{"Docker-Content-Digest": cfg.d.String()}},
		{name: "bob may not mount into team/app", method: "POST", target: "/v2/team/app/blobs/uploads/?mount=" + cfg.d.String() + "&from=private/x", hdr: []string{bob},
			status: 403, code: oci.CodeDenied},
	})
	wrong := basicAuth("alice", "guess")
	b.run(t, "failed logins", []row{
		// One wrong password was spent above (3 per minute).
		{name: "wrong password 2", method: "GET", target: "/v2/", hdr: []string{wrong}, status: 401, code: oci.CodeUnauthorized, want: challenge},
		{name: "wrong password 3", method: "GET", target: "/v2/", hdr: []string{wrong}, status: 401, code: oci.CodeUnauthorized},
		{name: "wrong password 4: limited", method: "GET", target: "/v2/", hdr: []string{wrong}, status: 429, code: oci.CodeTooManyRequests,
			match: map[string]string{"Retry-After": `^[1-9][0-9]*$`}},
		{name: "the right password is limited too", method: "GET", target: "/v2/", hdr: []string{alice}, status: 429, code: oci.CodeTooManyRequests},
		{name: "anonymous requests are not", method: "GET", target: "/v2/", status: 401, code: oci.CodeUnauthorized},
	})
}

func runTokenRows(t *testing.T, st *store.Store) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(t.TempDir(), "keys.pem")
	if err := os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	b := startAuthServer(t, st, config.Auth{
		Token:        config.Token{Realm: "http://127.0.0.1:9/token", Service: "battery", Issuer: "battery-issuer", RootCertBundle: bundle},
		FailedLogins: config.FailedLogins{Max: 10, Window: time.Minute},
	})
	token := func(ttl time.Duration, access ...auth.Access) string {
		now := time.Now()
		s, err := jwt.NewWithClaims(jwt.SigningMethodES256, auth.TokenClaims{
			RegisteredClaims: jwt.RegisteredClaims{Issuer: "battery-issuer", Subject: "alice", Audience: jwt.ClaimStrings{"battery"},
				ExpiresAt: jwt.NewNumericDate(now.Add(ttl)), IssuedAt: jwt.NewNumericDate(now)},
			Access: access,
		}).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return "Authorization: Bearer " + s
	}
	pushTok := token(time.Minute, auth.Repository("team/app", auth.Pull, auth.Push), auth.Repository("other/x", auth.All))
	pullTok := token(time.Minute, auth.Repository("team/app", auth.Pull))
	catalogTok := token(time.Minute, auth.Catalog)
	expiredTok := token(-time.Hour, auth.Repository("team/app", auth.Pull))
	const ch = `Bearer realm="http://127.0.0.1:9/token",service="battery"`
	cfg := newBlob([]byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
	man := newBlob(mustJSON(manifestOf(mtManifest, cfg.desc(mtConfig))))
	b.run(t, "token", []row{
		{name: "GET /v2/ without a token", method: "GET", target: "/v2/", status: 401, code: oci.CodeUnauthorized, want: map[string]string{"WWW-Authenticate": ch}},
		{name: "GET /v2/ with a token", method: "GET", target: "/v2/", hdr: []string{pullTok}, status: 200},
		{name: "push without a token", method: "POST", target: "/v2/team/app/blobs/uploads/", status: 401, code: oci.CodeUnauthorized,
			want: map[string]string{"WWW-Authenticate": ch + `,scope="repository:team/app:pull,push"`}},
		{name: "push with a push token", method: "POST", target: "/v2/team/app/blobs/uploads/?digest=" + cfg.d.String(), hdr: []string{pushTok}, send: cfg.b, status: 201},
		{name: "PUT manifest with a push token", method: "PUT", target: "/v2/team/app/manifests/v1", hdr: []string{pushTok, ct(mtManifest)}, send: man.b, status: 201},
		{name: "mount into other/x", method: "POST", target: "/v2/other/x/blobs/uploads/?mount=" + cfg.d.String() + "&from=team/app", hdr: []string{pushTok}, status: 201},
		{name: "PUT manifest into other/x", method: "PUT", target: "/v2/other/x/manifests/v1", hdr: []string{pushTok, ct(mtManifest)}, send: man.b, status: 201},
		{name: "PUT manifest with a pull token: insufficient scope", method: "PUT", target: "/v2/team/app/manifests/v2", hdr: []string{pullTok, ct(mtManifest)}, send: man.b,
			status: 401, code: oci.CodeUnauthorized, want: map[string]string{"WWW-Authenticate": ch + `,scope="repository:team/app:pull,push",error="insufficient_scope"`}},
		{name: "GET manifest with a pull token", method: "GET", target: "/v2/team/app/manifests/v1", hdr: []string{pullTok, "Accept: " + mtManifest}, status: 200},
		{name: "GET manifest with an expired token", method: "GET", target: "/v2/team/app/manifests/v1", hdr: []string{expiredTok}, status: 401, code: oci.CodeUnauthorized,
			want: map[string]string{"WWW-Authenticate": ch + `,scope="repository:team/app:pull",error="invalid_token"`}},
		{name: "GET manifest with a forged token", method: "GET", target: "/v2/team/app/manifests/v1", hdr: []string{pullTok + "x"}, status: 401, code: oci.CodeUnauthorized,
			want: map[string]string{"WWW-Authenticate": ch + `,scope="repository:team/app:pull",error="invalid_token"`}},
		{name: "DELETE with a pull token", method: "DELETE", target: "/v2/team/app/manifests/v1", hdr: []string{pullTok}, status: 401, code: oci.CodeUnauthorized},
		{name: "catalog without the catalog scope", method: "GET", target: "/v2/_catalog", hdr: []string{pullTok}, status: 401, code: oci.CodeUnauthorized,
			want: map[string]string{"WWW-Authenticate": ch + `,scope="registry:catalog:*",error="insufficient_scope"`}},
		{name: "catalog with the catalog scope", method: "GET", target: "/v2/_catalog", hdr: []string{catalogTok}, status: 200, check: catalogIs("other/x", "team/app")},
		{name: "catalog without a token", method: "GET", target: "/v2/_catalog", status: 401, code: oci.CodeUnauthorized,
			want: map[string]string{"WWW-Authenticate": ch + `,scope="registry:catalog:*"`}},
	})
}
