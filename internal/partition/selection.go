package partition

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

const (
	// MaxCoord is the largest row or column a Rect may name. Larger numbers
	// in a reference make it non-semantic.
	MaxCoord = math.MaxInt32
	// MaxRects bounds the number of rectangles of a Selection. A semantic
	// reference, being a tag of at most 128 characters, has at most 14.
	MaxRects = 64
)

// ErrInvalidRect is wrapped by every *RectError.
var ErrInvalidRect = errors.New("invalid rectangle")

// RectError reports a rectangle that is well formed but unusable: inverted
// (row1 > row2 or col1 > col2) or out of [0, MaxCoord].
type RectError struct {
	Rect   Rect
	Reason string
}

func (e *RectError) Error() string {
	return fmt.Sprintf("semantic tag: rectangle --%s: %s", e.Rect, e.Reason)
}

func (e *RectError) Unwrap() error { return ErrInvalidRect }

// Rect is an inclusive rectangle of cells: Row1 <= row <= Row2 and
// Col1 <= col <= Col2.
type Rect struct {
	Row1, Col1, Row2, Col2 int
}

// String returns "row1.col1.row2.col2", the form used in semantic tags
// (without the leading "--").
func (r Rect) String() string {
	return strconv.Itoa(r.Row1) + "." + strconv.Itoa(r.Col1) + "." +
		strconv.Itoa(r.Row2) + "." + strconv.Itoa(r.Col2)
}

// Contains reports whether (row, col) lies inside r.
func (r Rect) Contains(row, col int) bool {
	return r.Row1 <= row && row <= r.Row2 && r.Col1 <= col && col <= r.Col2
}

// check returns a *RectError when r is inverted or out of range.
func (r Rect) check() error {
	for _, v := range [...]int{r.Row1, r.Col1, r.Row2, r.Col2} {
		if v < 0 || v > MaxCoord {
			return &RectError{Rect: r, Reason: fmt.Sprintf("coordinates must be between 0 and %d", MaxCoord)}
		}
	}
	switch {
	case r.Row1 > r.Row2:
		return &RectError{Rect: r, Reason: fmt.Sprintf("row1 (%d) is greater than row2 (%d)", r.Row1, r.Row2)}
	case r.Col1 > r.Col2:
		return &RectError{Rect: r, Reason: fmt.Sprintf("col1 (%d) is greater than col2 (%d)", r.Col1, r.Col2)}
	}
	return nil
}

// Selection is a union of rectangles. The zero value selects nothing.
type Selection struct {
	rects []Rect
}

// NewSelection returns the union of rects. It fails with a *RectError for
// an inverted or out-of-range rectangle, or when there are more than
// MaxRects rectangles.
func NewSelection(rects ...Rect) (Selection, error) {
	if len(rects) > MaxRects {
		return Selection{}, fmt.Errorf("selection: %d rectangles, at most %d allowed", len(rects), MaxRects)
	}
	for _, r := range rects {
		if err := r.check(); err != nil {
			return Selection{}, err
		}
	}
	return Selection{rects: append([]Rect(nil), rects...)}, nil
}

// All selects every cell of any field: it is the rectangle
// 0.0.MaxCoord.MaxCoord, and so has the same Key as that rectangle.
func All() Selection {
	return Selection{rects: []Rect{{0, 0, MaxCoord, MaxCoord}}}
}

// Rects returns the rectangles as given, in the order given.
func (s Selection) Rects() []Rect { return append([]Rect(nil), s.rects...) }

// IsEmpty reports whether s has no rectangle (selects nothing).
func (s Selection) IsEmpty() bool { return len(s.rects) == 0 }

// Contains reports whether (row, col) lies inside any rectangle of s.
func (s Selection) Contains(row, col int) bool {
	for _, r := range s.rects {
		if r.Contains(row, col) {
			return true
		}
	}
	return false
}

// String returns the rectangles as given in semantic-tag form, each with
// its leading "--" ("--0.0.1.1--3.3.3.3"), so that base+s.String() is a
// semantic reference. The empty selection gives "".
func (s Selection) String() string {
	var b strings.Builder
	for _, r := range s.rects {
		b.WriteString("--")
		b.WriteString(r.String())
	}
	return b.String()
}

// Key returns a canonical text for the set of cells s covers, independent
// of any field. Two selections have the same Key exactly when they cover the
// same cells of the unbounded grid, so the order of rectangles, duplicates,
// rectangles contained in others, and different splittings of the same area
// (0.0.0.0--0.1.0.1 versus 0.0.0.1) are all normalized away. Numbers are
// written in decimal without leading zeros.
//
// The Key lists the rectangles of Normalize joined by "--", for example
// "0.0.0.1--1.0.1.2--2.1.2.2"; the empty selection gives "empty". It does
// not depend on the field, so two keys may differ while selecting the same
// allotments of a particular field (a rectangle beyond the field's edge
// versus one clipped to it).
func (s Selection) Key() string {
	n := s.Normalize()
	if len(n.rects) == 0 {
		return "empty"
	}
	return strings.TrimPrefix(n.String(), "--")
}
