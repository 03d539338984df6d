package partition

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

func hex64(c byte) string { return strings.Repeat(string(c), 64) }

func cell(row, col int, dg, diff string) string {
	return fmt.Sprintf(`{"row":%d,"col":%d,"digest":%q,"diffid":%q}`, row, col, dg, diff)
}

func TestParseFieldFixtures(t *testing.T) {
	fields := fixtureFields(t)
	tests := []struct {
		name  string
		rows  int
		cells []string // labels in row-major order
	}{
		{"dense", 3, []string{"d00", "d01", "d02", "d10", "d11", "d12", "d20", "d21", "d22"}},
		{"sparse", 4, []string{"s00", "s02", "s21", "s33"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fields[tt.name]
			if f.NumRows() != tt.rows || f.Len() != len(tt.cells) {
				t.Fatalf("rows=%d len=%d, want %d and %d", f.NumRows(), f.Len(), tt.rows, len(tt.cells))
			}
			var got []string
			for a := range f.All() {
				l := labelOf(tt.name[:1], a)
				got = append(got, l)
				want := labels[l]
				if a.Digest.String() != "sha256:"+want[0] || a.DiffID.String() != "sha256:"+want[1] {
					t.Errorf("%s: digest %s diffid %s, want %s %s", l, a.Digest, a.DiffID, want[0], want[1])
				}
			}
			if !slices.Equal(got, tt.cells) {
				t.Errorf("All() = %v, want %v", got, tt.cells)
			}
		})
	}
}

// The sparse field shipped alone is the blob of sparse-image.
func TestFixtureFieldsMatchOracle(t *testing.T) {
	checkAgainstOracle(t, readFixture(t, "sparse-field.json"))
	checkAgainstOracle(t, readFixture(t, "tdfs-image", "blobs", "sha256", denseFieldHex))
}

func TestSparseFieldIsImageBlob(t *testing.T) {
	a := readFixture(t, "sparse-field.json")
	b := readFixture(t, "sparse-image", "blobs", "sha256", sparseFieldHex)
	if !bytes.Equal(a, b) {
		t.Fatal("sparse-field.json differs from blob " + sparseFieldHex)
	}
}

func TestParseFieldTolerant(t *testing.T) {
	a, b, c := hex64('a'), hex64('b'), hex64('c')
	// Row 0: cell, placeholder, cell whose row/col members lie.
	// Row 1: no "allotments" member. Row 2: null. Row 3: null cell, then
	// a cell with unknown members. Unknown members everywhere.
	field := `{"owner":"x","rows_size":99,"extra":{"k":[1,2]},"rows":[` +
		`{"allotments":[` + cell(0, 0, a, b) + `,` + cell(0, 1, "", "") + `,` + cell(7, 7, b, c) + `],"allotments_size":3},` +
		`{"allotments_size":0},` +
		`null,` +
		`{"allotments":[null,{"row":3,"col":1,"digest":"` + c + `","diffid":"` + a + `","tocDigest":"x","compressedSize":12}]}` +
		`]}`
	f, err := ParseField([]byte(field))
	if err != nil {
		t.Fatal(err)
	}
	want := []Allotment{
		{0, 0, sha(a), sha(b)},
		{0, 2, sha(b), sha(c)},
		{3, 1, sha(c), sha(a)},
	}
	if got := slices.Collect(f.All()); !slices.Equal(got, want) {
		t.Fatalf("All() = %v, want %v", got, want)
	}
	if f.NumRows() != 4 || f.Len() != 3 {
		t.Errorf("NumRows=%d Len=%d, want 4 and 3", f.NumRows(), f.Len())
	}
	for _, tt := range []struct {
		row, col int
		ok       bool
	}{{0, 0, true}, {0, 1, false}, {0, 2, true}, {0, 3, false}, {1, 0, false}, {2, 0, false}, {3, 0, false}, {3, 1, true}, {4, 0, false}, {-1, 0, false}, {0, -1, false}} {
		if _, ok := f.At(tt.row, tt.col); ok != tt.ok {
			t.Errorf("At(%d,%d) ok = %v, want %v", tt.row, tt.col, ok, tt.ok)
		}
	}
}

func sha(hex string) digest.Digest { return digest.Digest("sha256:" + hex) }

func TestParseFieldEmpty(t *testing.T) {
	for _, in := range []string{`{"rows":[]}`, `{"rows":[{"allotments":[]}],"rows_size":1}`, `{"rows":[{"allotments":[{"digest":"","diffid":""}]}]}`} {
		f, err := ParseField([]byte(in))
		if err != nil {
			t.Fatalf("ParseField(%s): %v", in, err)
		}
		if f.Len() != 0 || len(f.Select(All())) != 0 {
			t.Errorf("ParseField(%s): Len=%d, want 0", in, f.Len())
		}
	}
}

func TestParseFieldErrors(t *testing.T) {
	a := hex64('a')
	tests := []struct{ name, in, msg string }{
		{"not json", `{"rows":[`, ""},
		{"trailing data", `{"rows":[]} x`, ""},
		{"array", `[]`, ""},
		{"null", `null`, "no \"rows\""},
		{"no rows", `{"owner":""}`, "no \"rows\""},
		{"rows null", `{"rows":null}`, "no \"rows\""},
		{"rows object", `{"rows":{}}`, ""},
		{"allotments object", `{"rows":[{"allotments":{}}]}`, ""},
		{"digest number", `{"rows":[{"allotments":[{"digest":1,"diffid":""}]}]}`, ""},
		{"digest only", `{"rows":[{"allotments":[` + cell(0, 0, a, "") + `]}]}`, "allotment (0,0)"},
		{"diffid only", `{"rows":[{"allotments":[` + cell(0, 0, "", a) + `]}]}`, "allotment (0,0)"},
		{"uppercase hex", `{"rows":[{"allotments":[` + cell(0, 0, strings.ToUpper(a), a) + `]}]}`, "lowercase hex"},
		{"prefixed digest", `{"rows":[{"allotments":[` + cell(0, 0, "sha256:"+a, a) + `]}]}`, ""},
		{"short hex", `{"rows":[{"allotments":[` + cell(0, 0, a[:63], a) + `]}]}`, ""},
		{"long hex", `{"rows":[{"allotments":[` + cell(0, 0, a+"a", a) + `]}]}`, ""},
		{"non hex", `{"rows":[{"allotments":[` + cell(0, 0, a[:63]+"g", a) + `]}]}`, ""},
		{"second row bad", `{"rows":[{"allotments":[]},{"allotments":[` + cell(1, 0, "", "") + `,` + cell(1, 1, "x", "y") + `]}]}`, "allotment (1,1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseField([]byte(tt.in))
			if !errors.Is(err, ErrInvalidField) {
				t.Fatalf("err = %v, want ErrInvalidField", err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %q, want it to mention %q", err, tt.msg)
			}
		})
	}
}
