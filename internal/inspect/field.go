package inspect

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/flatten"
	"github.com/dfsreg/dfsreg/internal/partition"
)

// sizeWorkers bounds concurrent size look-ups on sources without a batch
// query (a registry: one HEAD per allotment).
const sizeWorkers = 8

// field reads and parses the field behind layer d and lays it out as a
// grid with each allotment's size (and CID).
func (c *collector) field(ctx context.Context, d ocispec.Descriptor) (*Field, error) {
	b, err := c.src.SmallBlob(ctx, d.Digest)
	if err != nil {
		return nil, fmt.Errorf("2DFS field %s: %w", d.Digest, err)
	}
	pf, err := partition.ParseField(b)
	if err != nil {
		return nil, fmt.Errorf("2DFS field %s: %w", d.Digest, err)
	}
	f := &Field{Digest: d.Digest, Size: d.Size, Rows: pf.NumRows(), Cells: []Cell{}, Holes: []Pos{}}
	var ds []digest.Digest
	for a := range pf.All() {
		f.Cells = append(f.Cells, Cell{Row: a.Row, Col: a.Col, Digest: a.Digest, DiffID: a.DiffID})
		ds = append(ds, a.Digest)
		f.Cols = max(f.Cols, a.Col+1)
	}
	f.Allotments = len(f.Cells)
	for r := 0; r < f.Rows; r++ {
		for col := 0; col < f.Cols; col++ {
			if _, ok := pf.At(r, col); !ok {
				f.Holes = append(f.Holes, Pos{r, col})
			}
		}
	}
	sizes, err := c.sizes(ctx, ds)
	if err != nil {
		return nil, err
	}
	for i := range f.Cells {
		cl := &f.Cells[i]
		n, ok := sizes[cl.Digest]
		if !ok {
			cl.Size, cl.Missing = -1, true
			continue
		}
		cl.Size = n
		f.AllotmentsSize += n
		if cl.CID, err = c.cid(ctx, cl.Digest); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// sizes returns the sizes of the blobs ds the source holds; absent blobs
// are left out.
func (c *collector) sizes(ctx context.Context, ds []digest.Digest) (map[digest.Digest]int64, error) {
	if ss, ok := c.src.(flatten.SizeSource); ok {
		return ss.BlobSizes(ctx, ds)
	}
	out := make(map[digest.Digest]int64, len(ds))
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	work := make(chan digest.Digest)
	for range min(sizeWorkers, len(ds)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range work {
				n, err := c.src.BlobSize(ctx, d)
				mu.Lock()
				switch {
				case err == nil:
					out[d] = n
				case !errors.Is(err, ErrUnknownRef) && first == nil:
					first = fmt.Errorf("allotment %s: %w", d, err)
				}
				mu.Unlock()
			}
		}()
	}
	for _, d := range ds {
		work <- d
	}
	close(work)
	wg.Wait()
	return out, first
}
