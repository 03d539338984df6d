package partition

import (
	"fmt"
	"strconv"
)

// MaxBuildCoord bounds the coordinates NewField accepts: every hole before
// a cell is written out, so a huge coordinate would make a huge field.
const MaxBuildCoord = 1<<16 - 1

// NewField builds a field from its non-empty allotments, in any order. The
// field has as many rows as the largest row number plus one, and each row as
// many cells as its largest column plus one; every other cell is a hole.
// Coordinates must be in [0, MaxBuildCoord], digests sha256, and no cell
// given twice.
func NewField(allotments []Allotment) (*Field, error) {
	var rows [][]Allotment
	for _, a := range allotments {
		if a.Row < 0 || a.Col < 0 || a.Row > MaxBuildCoord || a.Col > MaxBuildCoord {
			return nil, fmt.Errorf("%w: allotment (%d,%d): row and column must be in 0..%d", ErrInvalidField, a.Row, a.Col, MaxBuildCoord)
		}
		for _, d := range []string{string(a.Digest), string(a.DiffID)} {
			if len(d) != len("sha256:")+64 || d[:7] != "sha256:" || !isHex64([]byte(d[7:])) {
				return nil, fmt.Errorf("%w: allotment (%d,%d): %q is not a sha256 digest", ErrInvalidField, a.Row, a.Col, d)
			}
		}
		for len(rows) <= a.Row {
			rows = append(rows, nil)
		}
		for c := len(rows[a.Row]); c <= a.Col; c++ {
			rows[a.Row] = append(rows[a.Row], Allotment{Row: a.Row, Col: c})
		}
		if rows[a.Row][a.Col].Digest != "" {
			return nil, fmt.Errorf("%w: allotment (%d,%d) given twice", ErrInvalidField, a.Row, a.Col)
		}
		rows[a.Row][a.Col] = a
	}
	return &Field{rows: rows, n: len(allotments)}, nil
}

// Encode returns the field JSON in the form the tdfs builder writes, byte for
// byte: compact, members in the order rows, rows_size, owner; each row
// {"allotments":[...],"allotments_size":N}; each cell
// {"row":R,"col":C,"digest":"<hex>","diffid":"<hex>"} with bare hex digests,
// holes with both empty; no trailing newline. Its sha256 is the digest of
// the field layer, so equal fields give equal images.
func (f *Field) Encode() []byte {
	const cellSize = len(`{"row":,"col":,"digest":"","diffid":""},`) + 2*64 + 8
	b := make([]byte, 0, 64+f.n*cellSize)
	b = append(b, `{"rows":[`...)
	for i, row := range f.rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"allotments":[`...)
		for j, a := range row {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"row":`...)
			b = strconv.AppendInt(b, int64(i), 10)
			b = append(b, `,"col":`...)
			b = strconv.AppendInt(b, int64(j), 10)
			b = append(b, `,"digest":"`...)
			if a.Digest != "" {
				b = append(b, a.Digest.Encoded()...)
			}
			b = append(b, `","diffid":"`...)
			if a.Digest != "" {
				b = append(b, a.DiffID.Encoded()...)
			}
			b = append(b, `"}`...)
		}
		b = append(b, `],"allotments_size":`...)
		b = strconv.AppendInt(b, int64(len(row)), 10)
		b = append(b, '}')
	}
	b = append(b, `],"rows_size":`...)
	b = strconv.AppendInt(b, int64(len(f.rows)), 10)
	b = append(b, `,"owner":""}`...)
	return b
}
