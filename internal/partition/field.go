package partition

import (
	"errors"
	"fmt"
	"iter"
	"strings"

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

// ParseField parses the field JSON stored behind a field layer.
//
// It is tolerant where the format is loose: unknown members are ignored,
// rows may be ragged or empty, and a cell whose digest and diffid are both
// "" (or a null cell or row) is a hole. The position is the truth: the cell
// at rows[i].allotments[j] is allotment (i, j) whatever its own "row" and
// "col" members say; those members are not read at all.
//
// Member names are matched exactly (case-sensitive), a member given twice
// keeps its last value, and a null member counts as absent.
//
// It is strict about what it cannot interpret: the whole input must be
// valid JSON, a JSON object with a "rows" array whose elements are objects
// (or null) with an "allotments" array (or none) of objects (or null);
// digest and diffid must be strings, each 64 lowercase hex digits (no
// "sha256:" prefix), or both be empty.
func ParseField(b []byte) (*Field, error) {
	w, err := parseWire(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidField, err)
	}
	if !w.hasRows {
		return nil, fmt.Errorf("%w: no \"rows\" array", ErrInvalidField)
	}
	if len(w.rows) > MaxCoord {
		return nil, fmt.Errorf("%w: too many rows", ErrInvalidField)
	}
	// Validate first, then make every digest string a slice of one
	// allocation: a large field has thousands of them.
	n := 0
	for i, row := range w.rows {
		if len(row) > MaxCoord {
			return nil, fmt.Errorf("%w: row %d: too many allotments", ErrInvalidField, i)
		}
		for j, c := range row {
			if len(c.digest) == 0 && len(c.diffID) == 0 {
				continue
			}
			if !isHex64(c.digest) || !isHex64(c.diffID) {
				return nil, fmt.Errorf("%w: allotment (%d,%d): digest %q and diffid %q must both be 64 lowercase hex digits or both be empty",
					ErrInvalidField, i, j, clip(c.digest), clip(c.diffID))
			}
			n++
		}
	}
	const prefix, dlen = "sha256:", len("sha256:") + 64
	var sb strings.Builder
	sb.Grow(2 * n * dlen)
	for _, row := range w.rows {
		for _, c := range row {
			if len(c.digest) != 0 {
				sb.WriteString(prefix)
				sb.Write(c.digest)
				sb.WriteString(prefix)
				sb.Write(c.diffID)
			}
		}
	}
	all := sb.String()

	f := &Field{rows: make([][]Allotment, len(w.rows)), n: n}
	for i, row := range w.rows {
		if len(row) == 0 {
			continue
		}
		cells := make([]Allotment, len(row))
		for j, c := range row {
			cells[j] = Allotment{Row: i, Col: j}
			if len(c.digest) != 0 {
				cells[j].Digest = digest.Digest(all[:dlen])
				cells[j].DiffID = digest.Digest(all[dlen : 2*dlen])
				all = all[2*dlen:]
			}
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

// lowerHex marks the bytes 0-9 and a-f.
var lowerHex = func() (t [256]bool) {
	for _, c := range "0123456789abcdef" {
		t[c] = true
	}
	return t
}()

func isHex64(s []byte) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !lowerHex[c] {
			return false
		}
	}
	return true
}

// clip shortens s for error messages.
func clip(s []byte) string {
	const limit = 80
	if len(s) > limit {
		return string(s[:limit]) + "..."
	}
	return string(s)
}
