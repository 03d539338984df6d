package partition

import (
	"slices"
)

// Normalize returns the canonical decomposition of the cells s covers:
// each row of the grid is split into maximal runs of covered columns, and
// consecutive rows with the same runs are merged into one band. The result
// is sorted by (Row1, Col1), has no overlapping rectangles, and depends only
// on the set of covered cells.
func (s Selection) Normalize() Selection {
	if len(s.rects) == 0 {
		return Selection{}
	}
	// Coordinate compression: between two consecutive cuts every row (or
	// column) is covered by the same rectangles. int64 because Row2+1 may
	// exceed MaxInt32.
	rowCuts := cuts(s.rects, func(r Rect) (int, int) { return r.Row1, r.Row2 })
	colCuts := cuts(s.rects, func(r Rect) (int, int) { return r.Col1, r.Col2 })

	var out []Rect
	var band []span // column runs of the band being built
	var bandStart int64
	flush := func(end int64) {
		for _, sp := range band {
			out = append(out, Rect{int(bandStart), int(sp.lo), int(end), int(sp.hi)})
		}
	}
	for i := 0; i+1 < len(rowCuts); i++ {
		row := rowCuts[i]
		runs := coveredRuns(s.rects, row, colCuts)
		if slices.Equal(runs, band) {
			continue
		}
		flush(row - 1)
		band, bandStart = runs, row
	}
	flush(rowCuts[len(rowCuts)-1] - 1)
	return Selection{rects: out}
}

// span is an inclusive run of columns.
type span struct{ lo, hi int64 }

// cuts returns the sorted, distinct values lo and hi+1 of every rectangle.
func cuts(rects []Rect, bounds func(Rect) (int, int)) []int64 {
	cs := make([]int64, 0, 2*len(rects))
	for _, r := range rects {
		lo, hi := bounds(r)
		cs = append(cs, int64(lo), int64(hi)+1)
	}
	slices.Sort(cs)
	return slices.Compact(cs)
}

// coveredRuns returns the maximal runs of columns covered in row, which
// must be a row cut (so the whole row band behaves the same).
func coveredRuns(rects []Rect, row int64, colCuts []int64) []span {
	var runs []span
	for j := 0; j+1 < len(colCuts); j++ {
		col := colCuts[j]
		covered := false
		for _, r := range rects {
			if int64(r.Row1) <= row && row <= int64(r.Row2) && int64(r.Col1) <= col && col <= int64(r.Col2) {
				covered = true
				break
			}
		}
		if !covered {
			continue
		}
		end := colCuts[j+1] - 1
		if n := len(runs); n > 0 && runs[n-1].hi+1 == col {
			runs[n-1].hi = end
		} else {
			runs = append(runs, span{col, end})
		}
	}
	return runs
}
