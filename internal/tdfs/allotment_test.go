package tdfs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/dfsreg/dfsreg/internal/testutil"
)

func fixtureDir(t testing.TB) string { return testutil.Fixture2DFS(t) }

// modes are the source files' modes when the fixture was built (git and
// this checkout keep only the executable bit; the fixture README lists them).
var modes = map[string]os.FileMode{
	"r1c2.sh":      0o755,
	"r2c1.bin":     0o600,
	"s-r3c3-b.bin": 0o640,
}

// copySources copies a fixture's src/ into a temporary directory with the
// original modes and returns the 2dfs.json there.
func copySources(t *testing.T, name string) string {
	t.Helper()
	from := filepath.Join(fixtureDir(t), name)
	to := t.TempDir()
	if err := os.Mkdir(filepath.Join(to, "src"), 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Join(from, "src"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(from, "src", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		mode, ok := modes[e.Name()]
		if !ok {
			mode = 0o644
		}
		p := filepath.Join(to, "src", e.Name())
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // umask
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(from, "2dfs.json"))
	if err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(to, "2dfs.json")
	if err := os.WriteFile(spec, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return spec
}

type want struct {
	digest, diffID string
	size           int64
}

// Expected allotments: ../shared/testdata/2dfs/semantic-tags.md (labels
// d00..d22 and s00..s33), built by the real tdfs (dense) and by the fixture
// author's Go script, cross-checked with tdfs build (sparse).
var fixtureAllotments = map[string]map[[2]int]want{
	"dense": {
		{0, 0}: {"59f076d53c4b90b3858296945661b0944f1be6230de05a751f78182e476b0601", "1b24e69deb843e65df1a81e879797075e69252894f11194b1f2e6cf249fe2088", 129},
		{0, 1}: {"3cff885b0a9a34ac7cdf1bb48648f0b55e4a5c5631b81b0c2d8f59cbe9cca34c", "b63f8bf19de88ae1a93747588237589688cf8529592342df653942f356237f6f", 219},
		{0, 2}: {"e9b7f15aef1548a606593c87080eac7df50a77c8f2ed6d4bf04a53fa6eeb133a", "cbceb08f0bd814569ad4d66f0e20136cb9187de8b7b13f6e48df322a82b418fc", 139},
		{1, 0}: {"eb1cf885661b07b539afec5613ab10aa44ec8d08a181fd3d85c7943489e62788", "4f2fd6b0e87f86c25c5b9cd7a13a137bcb33fd256dfa5dd6f1eea77e72802788", 108},
		{1, 1}: {"f73c8b3cf8aa7fc505c562bfe3291dd26a8efc9f9edc08cd422a6e7ead50d987", "a9135a0a932838f8829186df4eacb443151802ae056b424a8c265b45174459ea", 733},
		{1, 2}: {"8624afdae1e3a3a88f2f421f55213f62db88d0edcf5e576ee222025d4788fea4", "540db2c9d50eb4914b8bc7885d74d849f30eb212ae89ffa41fcc09e078d4bea3", 166},
		{2, 0}: {"58bb81f57fe389810b079c6bc54ef8d5dcf97a213c467c485dd6b728f7fb8284", "d9fda130d88e90d7522cdc8c7298157c5ca04eb7a8a45cccc8c1c8cc3e5e4949", 174},
		{2, 1}: {"4f520c927457a092e32f454291103555dd5ca1714ef9ab5341772ed47367beb0", "3c7eb806e85e1953283204a547b9fa81988238d5e646d52c1755695bcdc14226", 3185},
		{2, 2}: {"0d257d3f7ea0ab8da39e11c4ba2ce90f067722390bca6b6caf10abfb93051cae", "d7bfb80cc75b39511d264e79ef4023cd1d8ef51b3a2b1871af79a5a73ab3e181", 120},
	},
	"sparse": {
		{0, 0}: {"15c259ee406c14549cfc53259130b389b8775ddea41bbf6615ee4e640f984a93", "33a3d8507de8b8c4c445932e1965aa32718253f624f75dd9f520a8a874428cb0", 133},
		{0, 2}: {"ce6d497dcc543ebac605268459e663ed8452b01d13f4c90fa55a7648ea6d1f52", "6f705975e91b9797f0485e948412e299a07acd89a7ead01c8f434c0f0ea977e3", 433},
		{2, 1}: {"eddcc97e896092ad957a4583f708531f4ec614342b82c7d7a46b3104ab07016e", "cbc2bea3990aee1a0c76c71bb0c7fe0c6157a04b2bb5c4fd5125277df3199dc7", 143},
		{3, 3}: {"9fd0ce145cb03f4e22c6237cc9fea5c62427a0085693931dec8633919c294d86", "7c13af684a15dec09aa23f3d6c1be175eb2c744dab7710dcd382173ac11f3dc9", 243},
	},
}

// TestBuildFixtures builds the fixtures' allotments from their 2dfs.json
// and sources and compares digest, diff ID and size with what tdfs made;
// where the fixture ships the blob, the bytes must be identical.
func TestBuildFixtures(t *testing.T) {
	for _, name := range []string{"dense", "sparse"} {
		t.Run(name, func(t *testing.T) {
			spec, err := LoadSpec(copySources(t, name))
			if err != nil {
				t.Fatal(err)
			}
			for _, keepOwner := range []bool{false, os.Getuid() == 0} {
				spool := t.TempDir()
				blobs, err := Build(context.Background(), spec, Options{Spool: spool, Jobs: 3, KeepOwner: keepOwner})
				if err != nil {
					t.Fatal(err)
				}
				exp := fixtureAllotments[name]
				if len(blobs) != len(exp) {
					t.Fatalf("%d allotments, want %d", len(blobs), len(exp))
				}
				for i, b := range blobs {
					if b.Row != spec.Allotments[i].Row || b.Col != spec.Allotments[i].Col {
						t.Fatalf("blob %d is (%d,%d), want the spec's order", i, b.Row, b.Col)
					}
					w := exp[[2]int{b.Row, b.Col}]
					if b.Digest.Encoded() != w.digest || b.DiffID.Encoded() != w.diffID || b.Size != w.size {
						t.Errorf("keepOwner=%v (%d,%d): got %s %s %d, want %s %s %d", keepOwner, b.Row, b.Col,
							b.Digest.Encoded(), b.DiffID.Encoded(), b.Size, w.digest, w.diffID, w.size)
						continue
					}
					got, err := os.ReadFile(b.Path)
					if err != nil {
						t.Fatal(err)
					}
					if digest.FromBytes(got) != b.Digest || int64(len(got)) != b.Size {
						t.Errorf("(%d,%d): spooled file does not match the digest", b.Row, b.Col)
					}
					shipped, err := os.ReadFile(filepath.Join(fixtureDir(t), layoutOf(name), "blobs", "sha256", w.digest))
					if err == nil && !bytes.Equal(got, shipped) {
						t.Errorf("(%d,%d): bytes differ from the fixture's blob", b.Row, b.Col)
					}
				}
				left, _ := filepath.Glob(filepath.Join(spool, ".allotment-*"))
				if len(left) != 0 {
					t.Errorf("temporary files left in the spool: %v", left)
				}
			}
		})
	}
}

func layoutOf(name string) string {
	if name == "dense" {
		return "tdfs-image"
	}
	return "sparse-image"
}

func TestBuildErrors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a"), []byte("a"), 0o644)
	os.Mkdir(filepath.Join(dir, "d"), 0o755)
	for _, tt := range []struct {
		name string
		src  string
	}{
		{"missing source", "nope"},
		{"directory source", "d"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &Spec{Allotments: []AllotmentSpec{
				{Src: []string{filepath.Join(dir, "a")}, Dst: []string{"/a"}},
				{Src: []string{filepath.Join(dir, tt.src)}, Dst: []string{"/b"}, Row: 1},
			}}
			if _, err := Build(context.Background(), s, Options{Spool: t.TempDir()}); err == nil {
				t.Fatal("Build succeeded")
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, _, err := Write(ctx, io.Discard, []File{{Src: filepath.Join(dir, "a"), Dst: "a"}}, false)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Write with a cancelled context: %v", err)
	}
}

func TestParseSpec(t *testing.T) {
	tests := []struct {
		name, in string
		want     []AllotmentSpec // nil: error
	}{
		{"string and list", `{"allotments":[{"src":"a","dst":"/a","row":1,"col":2},{"src":["b","c"],"dst":["/b","c"],"row":0,"col":0,"x":1}]}`,
			[]AllotmentSpec{{Src: []string{"a"}, Dst: []string{"/a"}, Row: 1, Col: 2}, {Src: []string{"b", "c"}, Dst: []string{"/b", "c"}}}},
		{"empty", `{"allotments":[]}`, []AllotmentSpec{}},
		{"length mismatch", `{"allotments":[{"src":["a","b"],"dst":"/a","row":0,"col":0}]}`, nil},
		{"negative row", `{"allotments":[{"src":"a","dst":"/a","row":-1,"col":0}]}`, nil},
		{"missing col", `{"allotments":[{"src":"a","dst":"/a","row":0}]}`, nil},
		{"duplicate cell", `{"allotments":[{"src":"a","dst":"/a","row":0,"col":0},{"src":"b","dst":"/b","row":0,"col":0}]}`, nil},
		{"empty dst", `{"allotments":[{"src":"a","dst":"","row":0,"col":0}]}`, nil},
		{"empty list", `{"allotments":[{"src":[],"dst":[],"row":0,"col":0}]}`, nil},
		{"number src", `{"allotments":[{"src":1,"dst":"/a","row":0,"col":0}]}`, nil},
		{"no src", `{"allotments":[{"dst":"/a","row":0,"col":0}]}`, nil},
		{"trailing data", `{"allotments":[]} {}`, nil},
		{"not json", `allotments`, nil},
		{"huge col", `{"allotments":[{"src":"a","dst":"/a","row":0,"col":99999999}]}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSpec([]byte(tt.in))
			if tt.want == nil {
				if !errors.Is(err, ErrSpec) {
					t.Fatalf("err = %v, want ErrSpec", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Allotments) != len(tt.want) {
				t.Fatalf("got %+v", s.Allotments)
			}
			for i := range tt.want {
				g, w := s.Allotments[i], tt.want[i]
				if g.Row != w.Row || g.Col != w.Col || !equal(g.Src, w.Src) || !equal(g.Dst, w.Dst) {
					t.Fatalf("allotment %d: got %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
