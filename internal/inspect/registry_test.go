package inspect

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/dfsreg/dfsreg/internal/ocilayout"
	"github.com/dfsreg/dfsreg/internal/remote"
	"github.com/dfsreg/dfsreg/internal/serve"
	"github.com/dfsreg/dfsreg/internal/store"
)

// noCreds is a keychain without credentials (the test must not read the
// caller's docker configuration).
var noCreds = authn.NewMultiKeychain()

func inspectRegistry(t *testing.T, ref string) (*Report, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := remote.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	return Inspect(ctx, RegistrySource(r, remote.Options{Keychain: noCreds}), ref, r.Identifier())
}

// comparable blanks what legitimately differs between sources: where the
// image was read, and CIDs (only a store records them).
func comparable(t *testing.T, rep *Report) string {
	t.Helper()
	rep.Reference, rep.Source, rep.Location, rep.Repository = "", "", "", ""
	for i := range rep.Manifests {
		m := &rep.Manifests[i]
		if m.Config != nil {
			m.Config.CID = ""
		}
		for j := range m.Layers {
			m.Layers[j].CID = ""
		}
		if m.Field != nil {
			for j := range m.Field.Cells {
				m.Field.Cells[j].CID = ""
			}
		}
	}
	b, err := json.MarshalIndent(rep, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSourcesAgree: a registry (dfsreg serve, in process, over a store),
// the store itself and the OCI layout the image came from give the same
// report; the partition digest inspect computes is the one the registry
// serves for the semantic tag.
func TestSourcesAgree(t *testing.T) {
	ctx := context.Background()
	root, _ := filledStore(t)
	w, err := store.Open(ctx, store.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	srv := httptest.NewServer(serve.New(w, serve.Options{}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	ro, err := store.Open(ctx, store.Options{Root: root, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	for _, tc := range []struct{ fixture, repo, ref string }{
		{"tdfs-image", "fixture/dense", "v1--0.0.1.1"},
		{"sparse-image", "fixture/sparse", "v1--0.2.3.3"},
		{"sparse-image", "fixture/sparse", "v1"},
	} {
		t.Run(tc.repo+":"+tc.ref, func(t *testing.T) {
			l, err := ocilayout.Open(fixture(t, tc.fixture))
			if err != nil {
				t.Fatal(err)
			}
			fromLayout, err := Inspect(ctx, LayoutSource(l), "", tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			fromStore, err := Inspect(ctx, StoreSource(ro, tc.repo), "", tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			fromRegistry, err := inspectRegistry(t, host+"/"+tc.repo+":"+tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			if fromRegistry.Source != "registry" || fromRegistry.Location != host || fromRegistry.Repository != tc.repo {
				t.Errorf("registry report names %s %s %s", fromRegistry.Source, fromRegistry.Location, fromRegistry.Repository)
			}
			// The layout has no referrers; the store's dense image has one.
			fromLayout.Referrers, fromStore.Referrers, fromRegistry.Referrers = nil, nil, nil
			want := comparable(t, fromLayout)
			if got := comparable(t, fromStore); got != want {
				t.Errorf("store and layout differ:\n%s\n---\n%s", got, want)
			}
			if got := comparable(t, fromRegistry); got != want {
				t.Errorf("registry and layout differ:\n%s\n---\n%s", got, want)
			}
			if s := fromRegistry.Selection; s != nil {
				resp, err := http.Head(srv.URL + "/v2/" + tc.repo + "/manifests/" + tc.ref)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if got := resp.Header.Get("Docker-Content-Digest"); got != s.Digest.String() {
					t.Errorf("registry serves %s for %s, inspect says %s", got, tc.ref, s.Digest)
				}
			}
		})
	}

	// Referrers through the registry's API.
	rep, err := inspectRegistry(t, host+"/fixture/dense:v1")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Referrers) != 1 || rep.Referrers[0].ArtifactType != "application/vnd.example.sbom" {
		t.Errorf("referrers %+v", rep.Referrers)
	}

	// By digest: the same image.
	byDigest, err := inspectRegistry(t, host+"/fixture/dense@"+denseIndex)
	if err != nil {
		t.Fatal(err)
	}
	if byDigest.Digest != denseIndex || byDigest.Tag != denseIndex || len(byDigest.Manifests) != 2 || !byDigest.TDFS {
		t.Errorf("by digest: %s %s, %d manifests", byDigest.Digest, byDigest.Tag, len(byDigest.Manifests))
	}

	// Unknown tag, unknown repository, unknown base of a semantic tag.
	for ref, want := range map[string]error{
		host + "/fixture/dense:v9":          ErrUnknownRef,
		host + "/no/such:v1":                ErrUnknownRef,
		host + "/fixture/dense:v9--0.0.0.0": ErrUnknownRef,
	} {
		if _, err := inspectRegistry(t, ref); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", ref, err, want)
		}
	}
}

// TestRegistryErrors: a registry that wants a token it will not give, one
// that grants an anonymous token but refuses the repository, and a port
// nothing listens on.
func TestRegistryErrors(t *testing.T) {
	var tokenURL string
	deny := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"login first"}]}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+tokenURL+`",service="test"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
	}))
	defer deny.Close()
	tokenURL = deny.URL + "/token"

	var anonURL string
	anon := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"token":"anonymous"}`))
			return
		}
		if r.URL.Path == "/v2/" && r.Header.Get("Authorization") == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+anonURL+`",service="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/v2/" {
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+anonURL+`",service="test",scope="repository:private/app:pull",error="insufficient_scope"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
	}))
	defer anon.Close()
	anonURL = anon.URL + "/token"

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	for _, tc := range []struct {
		name, ref string
		want      error
		text      string
	}{
		{"token refused", strings.TrimPrefix(deny.URL, "http://") + "/private/app:v1", ErrAuthRequired, "docker login"},
		{"repository refused", strings.TrimPrefix(anon.URL, "http://") + "/private/app:v1", ErrAuthRequired, "401"},
		{"nothing listens", closed + "/some/app:v1", ErrUnreachable, closed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := inspectRegistry(t, tc.ref)
			if !errors.Is(err, tc.want) {
				t.Fatalf("%v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("%q does not say %q", err, tc.text)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}
