package partition

import (
	"encoding/json"
	"errors"
	"fmt"
	"iter"

	"github.com/opencontainers/go-digest"
)

// FieldMediaType is the media type of the manifest layer that carries the
// field JSON of a 2DFS image.
const FieldMediaType = "application/vnd.oci.image.layer.v1.2dfs.field"

// ErrInvalidField is wrapped by every error ParseField returns.
var ErrInvalidField = errors.New("invalid 2DFS field")

// Allotment is one non-empty cell of a field.
type Allotment struct {
	Row, Col int
	// Digest is the sha256 digest of the compressed tar (the blob).
	Digest digest.Digest
	// DiffID is the sha256 digest of the uncompressed tar.
	DiffID digest.Digest
}

// Field is a parsed 2DFS field. Rows may be ragged and may contain holes.
// The zero value is an empty field.
type Field struct {
	rows [][]Allotment // holes have an empty Digest
	n    int           // number of non-empty allotments
}

// Wire form. Only the members read are declared: "row" and "col" of a cell,
// the *_size counters, "owner" and any unknown member are ignored.
type wireField struct {
	Rows *[]*wireRow `json:"rows"`
}

type wireRow struct {
	Allotments []*wireCell `json:"allotments"`
}

type wireCell struct {
	Digest string `json:"digest"`
	DiffID string `json:"diffid"`
}

// ParseField parses the field JSON stored behind a field layer.
//
// It is tolerant where the format is loose: unknown members are ignored,
// rows may be ragged or empty, and a cell whose digest and diffid are both
// "" (or a null cell or row) is a hole. The position is the truth: the cell
// at rows[i].allotments[j] is allotment (i, j) whatever its own "row" and
// "col" members say; those members are not read at all.
//
// It is strict about what it cannot interpret: the input must be a JSON
// object with a "rows" array, and digest and diffid must each be 64
// lowercase hex digits (no "sha256:" prefix) or both be empty.
func ParseField(b []byte) (*Field, error) {
	var w wireField
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidField, err)
	}
	if w.Rows == nil {
		return nil, fmt.Errorf("%w: no \"rows\" array", ErrInvalidField)
	}
	if len(*w.Rows) > MaxCoord {
		return nil, fmt.Errorf("%w: too many rows", ErrInvalidField)
	}
	f := &Field{rows: make([][]Allotment, len(*w.Rows))}
	for i, row := range *w.Rows {
		if row == nil || len(row.Allotments) == 0 {
			continue
		}
		if len(row.Allotments) > MaxCoord {
			return nil, fmt.Errorf("%w: row %d: too many allotments", ErrInvalidField, i)
		}
		cells := make([]Allotment, len(row.Allotments))
		for j, c := range row.Allotments {
			cells[j] = Allotment{Row: i, Col: j}
			if c == nil || (c.Digest == "" && c.DiffID == "") {
				continue
			}
			if !isHex64(c.Digest) || !isHex64(c.DiffID) {
				return nil, fmt.Errorf("%w: allotment (%d,%d): digest %q and diffid %q must both be 64 lowercase hex digits or both be empty",
					ErrInvalidField, i, j, clip(c.Digest), clip(c.DiffID))
			}
			cells[j].Digest = digest.NewDigestFromEncoded(digest.SHA256, c.Digest)
			cells[j].DiffID = digest.NewDigestFromEncoded(digest.SHA256, c.DiffID)
			f.n++
		}
		f.rows[i] = cells
	}
	return f, nil
}

// Len returns the number of non-empty allotments.
func (f *Field) Len() int { return f.n }

// NumRows returns the number of rows, including empty ones.
func (f *Field) NumRows() int { return len(f.rows) }

// At returns the allotment at (row, col); ok is false for a hole or a
// position outside the field.
func (f *Field) At(row, col int) (a Allotment, ok bool) {
	if row < 0 || row >= len(f.rows) || col < 0 || col >= len(f.rows[row]) {
		return Allotment{}, false
	}
	a = f.rows[row][col]
	return a, a.Digest != ""
}

// All yields every non-empty allotment in row-major order.
func (f *Field) All() iter.Seq[Allotment] {
	return func(yield func(Allotment) bool) {
		for _, row := range f.rows {
			for _, a := range row {
				if a.Digest != "" && !yield(a) {
					return
				}
			}
		}
	}
}

// Select returns the non-empty allotments inside sel, each once, in
// row-major order. Rectangles reaching beyond the field are clipped to it.
func (f *Field) Select(sel Selection) []Allotment {
	var out []Allotment
	active := make([]Rect, 0, len(sel.rects))
	for r, row := range f.rows {
		active = active[:0]
		for _, rc := range sel.rects {
			if rc.Row1 <= r && r <= rc.Row2 {
				active = append(active, rc)
			}
		}
		if len(active) == 0 {
			continue
		}
		for c, a := range row {
			if a.Digest == "" {
				continue
			}
			for _, rc := range active {
				if rc.Col1 <= c && c <= rc.Col2 {
					out = append(out, a)
					break
				}
			}
		}
	}
	return out
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// clip shortens s for error messages.
func clip(s string) string {
	const limit = 80
	if len(s) > limit {
		return s[:limit] + "..."
	}
	return s
}
