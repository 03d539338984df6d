package partition

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"
)

// The fixture fields, rebuilt from their allotments, encode to the exact
// bytes tdfs wrote (dense) and the hand-assembled sparse field.
func TestEncodeFixtures(t *testing.T) {
	for name, want := range map[string][]byte{
		"dense":  readFixture(t, "tdfs-image", "blobs", "sha256", denseFieldHex),
		"sparse": readFixture(t, "sparse-field.json"),
	} {
		t.Run(name, func(t *testing.T) {
			f, err := ParseField(want)
			if err != nil {
				t.Fatal(err)
			}
			all := slices.Collect(f.All())
			slices.Reverse(all) // order of input does not matter
			g, err := NewField(all)
			if err != nil {
				t.Fatal(err)
			}
			if got := g.Encode(); !bytes.Equal(got, want) {
				t.Fatalf("Encode:\n got %s\nwant %s", got, want)
			}
			if g.Len() != f.Len() || g.NumRows() != f.NumRows() {
				t.Fatalf("Len/NumRows = %d/%d, want %d/%d", g.Len(), g.NumRows(), f.Len(), f.NumRows())
			}
		})
	}
}

func TestNewField(t *testing.T) {
	d := func(c byte) digest.Digest { return digest.Digest("sha256:" + string(bytes.Repeat([]byte{c}, 64))) }
	a := func(r, c int) Allotment { return Allotment{Row: r, Col: c, Digest: d('a'), DiffID: d('b')} }
	tests := []struct {
		name string
		in   []Allotment
		want string // Encode output, or "" when an error is expected
	}{
		{"empty", nil, `{"rows":[],"rows_size":0,"owner":""}`},
		{"hole rows and cols", []Allotment{a(2, 1)},
			`{"rows":[{"allotments":[],"allotments_size":0},{"allotments":[],"allotments_size":0},{"allotments":[{"row":2,"col":0,"digest":"","diffid":""},{"row":2,"col":1,"digest":"` + d('a').Encoded() + `","diffid":"` + d('b').Encoded() + `"}],"allotments_size":2}],"rows_size":3,"owner":""}`},
		{"duplicate", []Allotment{a(0, 0), a(0, 0)}, ""},
		{"negative", []Allotment{a(-1, 0)}, ""},
		{"too far", []Allotment{a(0, MaxBuildCoord+1)}, ""},
		{"bad digest", []Allotment{{Row: 0, Col: 0, Digest: "sha256:abc", DiffID: d('b')}}, ""},
		{"no diffid", []Allotment{{Row: 0, Col: 0, Digest: d('a')}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := NewField(tt.in)
			if tt.want == "" {
				if !errors.Is(err, ErrInvalidField) {
					t.Fatalf("err = %v, want ErrInvalidField", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := f.Encode()
			if string(got) != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			back, err := ParseField(got)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(slices.Collect(back.All()), slices.Collect(f.All())) {
				t.Fatal("round trip changed the allotments")
			}
		})
	}
}
