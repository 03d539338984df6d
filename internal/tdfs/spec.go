package tdfs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dfsreg/dfsreg/internal/partition"
)

// ErrSpec is wrapped by every error about the content of a 2dfs.json.
var ErrSpec = errors.New("invalid 2dfs.json")

// Spec is a builder input (2dfs.json): the allotments of a field.
type Spec struct {
	Allotments []AllotmentSpec
}

// AllotmentSpec is one allotment: the files Src[i], stored at Dst[i], in
// cell (Row, Col).
type AllotmentSpec struct {
	Src, Dst []string
	Row, Col int
}

// wireSpec is 2dfs.json as written: src and dst are a string or a list.
type wireSpec struct {
	Allotments []struct {
		Src json.RawMessage `json:"src"`
		Dst json.RawMessage `json:"dst"`
		Row *int            `json:"row"`
		Col *int            `json:"col"`
	} `json:"allotments"`
}

// ParseSpec parses a 2dfs.json. Each allotment needs src and dst (equal
// length, at least one path, none empty) and non-negative row and col; no
// cell may be given twice. Unknown members are ignored.
func ParseSpec(b []byte) (*Spec, error) {
	var w wireSpec
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSpec, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the top-level object", ErrSpec)
	}
	s := &Spec{}
	seen := map[[2]int]int{}
	for i, a := range w.Allotments {
		if a.Row == nil || a.Col == nil {
			return nil, fmt.Errorf("%w: allotment %d: row and col are required", ErrSpec, i)
		}
		r, c := *a.Row, *a.Col
		if r < 0 || c < 0 || r > partition.MaxBuildCoord || c > partition.MaxBuildCoord {
			return nil, fmt.Errorf("%w: allotment %d: row %d, col %d: must be in 0..%d", ErrSpec, i, r, c, partition.MaxBuildCoord)
		}
		if j, ok := seen[[2]int{r, c}]; ok {
			return nil, fmt.Errorf("%w: allotments %d and %d are both cell (%d,%d)", ErrSpec, j, i, r, c)
		}
		seen[[2]int{r, c}] = i
		src, err := paths(a.Src)
		if err != nil {
			return nil, fmt.Errorf("%w: allotment %d (%d,%d): src: %v", ErrSpec, i, r, c, err)
		}
		dst, err := paths(a.Dst)
		if err != nil {
			return nil, fmt.Errorf("%w: allotment %d (%d,%d): dst: %v", ErrSpec, i, r, c, err)
		}
		if len(src) != len(dst) {
			return nil, fmt.Errorf("%w: allotment %d (%d,%d): %d src for %d dst", ErrSpec, i, r, c, len(src), len(dst))
		}
		s.Allotments = append(s.Allotments, AllotmentSpec{Src: src, Dst: dst, Row: r, Col: c})
	}
	return s, nil
}

// paths decodes a string or a list of strings; none may be empty.
func paths(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, errors.New("missing")
	}
	var out []string
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		out = []string{s}
	} else if err := json.Unmarshal(raw, &out); err != nil {
		return nil, errors.New("must be a string or a list of strings")
	}
	if len(out) == 0 {
		return nil, errors.New("empty list")
	}
	for _, p := range out {
		if p == "" {
			return nil, errors.New("empty path")
		}
	}
	return out, nil
}

// LoadSpec reads and parses the 2dfs.json at path. Relative src paths are
// made relative to the file's directory (tdfs resolves them from its
// working directory, which is that directory in the usual layout).
func LoadSpec(path string) (*Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := ParseSpec(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	dir := filepath.Dir(path)
	for i := range s.Allotments {
		for j, src := range s.Allotments[i].Src {
			if !filepath.IsAbs(src) {
				s.Allotments[i].Src[j] = filepath.Join(dir, src)
			}
		}
	}
	return s, nil
}
