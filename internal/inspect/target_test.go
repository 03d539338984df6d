package inspect

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	tmp := t.TempDir()
	st := filepath.Join(tmp, "store")
	lay := filepath.Join(tmp, "layout")
	plain := filepath.Join(tmp, "plain")
	for _, d := range []string{st, lay, plain} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(st, "dfsreg.db"), nil, 0o644)
	os.WriteFile(filepath.Join(lay, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
	dgst := "sha256:" + strings.Repeat("a", 64)

	for _, tc := range []struct {
		args []string
		root string
		want Target
		err  string
	}{
		{args: []string{"fixture/dense:v1"}, root: st, want: Target{Kind: "store", Dir: st, Repo: "fixture/dense", Ref: "v1"}},
		{args: []string{"fixture/dense:v1--0.0.1.1"}, root: st, want: Target{Kind: "store", Dir: st, Repo: "fixture/dense", Ref: "v1--0.0.1.1"}},
		{args: []string{"a/b@" + dgst}, root: st, want: Target{Kind: "store", Dir: st, Repo: "a/b", Ref: dgst}},
		{args: []string{"a/b"}, root: st, err: "want REPO:TAG"},
		{args: []string{"A/b:v1"}, root: st, err: "invalid repository name"},
		{args: []string{"a/b@sha256:12"}, root: st, err: "digest"},
		{args: []string{"a", "b"}, root: st, err: "with --root, give one"},
		{args: []string{st, "fixture/dense:v1"}, want: Target{Kind: "store", Dir: st, Repo: "fixture/dense", Ref: "v1"}},
		{args: []string{lay, "v1"}, want: Target{Kind: "layout", Dir: lay, Ref: "v1"}},
		{args: []string{plain, "v1"}, err: "neither a dfsreg store"},
		{args: []string{"oci:" + lay + ":v1--0.0.1.1"}, want: Target{Kind: "layout", Dir: lay, Ref: "v1--0.0.1.1"}},
		{args: []string{"oci:" + lay}, want: Target{Kind: "layout", Dir: lay}},
		{args: []string{"oci:"}, err: "no layout directory"},
		{args: []string{lay}, want: Target{Kind: "layout", Dir: lay}},
		{args: []string{lay + ":v1"}, want: Target{Kind: "layout", Dir: lay, Ref: "v1"}},
		{args: []string{st}, err: "is a dfsreg store: name an image"},
		{args: []string{plain}, err: "neither a dfsreg store nor an OCI image layout"},
		{args: []string{"127.0.0.1:5000/fixture/dense:v1--0.0.1.1"}, want: Target{Kind: "registry", Ref: "127.0.0.1:5000/fixture/dense:v1--0.0.1.1"}},
		{args: []string{"ubuntu"}, want: Target{Kind: "registry", Ref: "ubuntu"}},
		{args: []string{plain + "/missing:v1"}, err: "no such directory"},
		{args: []string{"./missing"}, err: "no such directory"},
		{args: []string{"localhost/missing:v1"}, want: Target{Kind: "registry", Ref: "localhost/missing:v1"}},
		{args: []string{"a", "b", "c"}, err: "give one reference"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			got, err := Classify(tc.args, tc.root)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
