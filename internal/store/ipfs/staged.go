package ipfs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/ipfs/boxo/files"
	"github.com/ipfs/go-cid"
	"github.com/opencontainers/go-digest"

	"github.com/dfsreg/dfsreg/internal/store"
)

// staged is an upload staged in CacheDir/uploads/<handle>.
type staged struct {
	b      *Backend
	handle string
	file   *os.File
	loc    store.Location
}

func (s *staged) Write(p []byte) (int, error) { return s.file.Write(p) }

// ReadFrom lets io.Copy pull straight into the file with a large buffer.
func (s *staged) ReadFrom(r io.Reader) (int64, error) { return s.file.ReadFrom(r) }

func (s *staged) Handle() string { return s.handle }

// Location implements store.Located: the CID, pinned.
func (s *staged) Location() store.Location { return s.loc }

func (s *staged) Close() error {
	err := s.file.Close()
	if errors.Is(err, os.ErrClosed) {
		return nil
	}
	return err
}

func (s *staged) Abort(context.Context) error {
	s.file.Close()
	return removeIfExists(s.file.Name())
}

// Commit adds the staged bytes to the node and pins them (retrying while the
// node does not answer), checks the CID where the digest determines it,
// records digest -> CID in the backend's index, and keeps the staged file as
// the cached copy. On failure the staged upload is left as it was, so the
// client can finish it again.
func (s *staged) Commit(ctx context.Context, d digest.Digest, verify bool) error {
	b := s.b
	if err := d.Validate(); err != nil {
		return err
	}
	fi, err := s.file.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if verify {
		v := d.Verifier()
		if _, err := io.Copy(v, io.NewSectionReader(s.file, 0, size)); err != nil {
			return err
		}
		if !v.Verified() {
			return store.ErrDigestMismatch
		}
	}
	// Already added and still pinned: deduplicated.
	if e, ok, err := b.index.get(ctx, d); err == nil && ok {
		if pinned, err := b.pinned(ctx, e.cid); err == nil && pinned {
			s.loc = store.Location{Locator: e.cid.String(), Pinned: true}
			return s.Abort(ctx)
		}
	}
	// The file becomes the cached copy: make it durable while the node
	// adds it (a blob larger than the cache is not kept: no need).
	synced := make(chan error, 1)
	if b.cache.fits(size) {
		go func() { synced <- s.file.Sync() }()
	} else {
		synced <- nil
	}
	c, err := b.add(ctx, d, s.file, size)
	syncErr := <-synced
	if err != nil {
		return err
	}
	if size <= MaxDerivableSize {
		want, err := DigestCID(d)
		if err == nil && !c.Equals(want) {
			b.unpin(ctx, c)
			return fmt.Errorf("ipfs backend: the node added blob %s (%d bytes) as %s, not %s: are its import options overridden?", d, size, c, want)
		}
	}
	if err := b.index.put(ctx, d, indexEntry{cid: c, size: size}); err != nil {
		return err
	}
	s.loc = store.Location{Locator: c.String(), Pinned: true}
	if err := s.file.Close(); err != nil || syncErr != nil {
		return removeIfExists(s.file.Name()) // durable in the node; just not cached
	}
	if err := b.cache.insert(d, s.file.Name(), size); err != nil {
		removeIfExists(s.file.Name())
	}
	return nil
}

// addEvent is one line of `add`'s output.
type addEvent struct {
	Name string
	Hash string
	Size string
}

// add adds size bytes of f to the node as blob d with the backend's import
// options and pins them, retrying while the node does not answer. The bytes
// sent are hashed on the way: if they are not d (the staged file changed
// under us), the pin is dropped and Commit fails with ErrDigestMismatch.
func (b *Backend) add(ctx context.Context, d digest.Digest, f *os.File, size int64) (cid.Cid, error) {
	var c cid.Cid
	err := b.retry(ctx, b.retryFor, retryWrite, func() error {
		v := d.Verifier()
		n := &countWriter{}
		body := files.NewReaderFile(io.TeeReader(io.NewSectionReader(f, 0, size), io.MultiWriter(v, n)))
		req := b.api.Request("add").
			Option("cid-version", 1).
			Option("raw-leaves", true).
			Option("hash", "sha2-256").
			Option("chunker", "size-"+strconv.Itoa(ChunkSize)).
			Option("inline", false).
			Option("pin", true).
			Option("progress", false).
			Option("quieter", true)
		if b.pinNames {
			// `ipfs pin ls --names` shows which blob a pin holds.
			req = req.Option("pin-name", d.String())
		}
		// The same single-file form the RPC client's Unixfs().Add sends.
		req = req.Body(files.NewMultiFileReader(files.NewMapDirectory(map[string]files.Node{"": body}), false, false))
		resp, err := req.Send(ctx)
		if err != nil {
			return err
		}
		if resp.Error != nil {
			return resp.Error
		}
		defer resp.Cancel()
		var last addEvent
		dec := json.NewDecoder(resp.Output)
		for {
			var ev addEvent
			if err := dec.Decode(&ev); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return err
			}
			if ev.Hash != "" {
				last = ev
			}
		}
		if n.n != size || !v.Verified() {
			got, _ := cid.Decode(last.Hash)
			if got.Defined() {
				b.unpin(ctx, got)
			}
			return permanent{fmt.Errorf("ipfs backend: sent %d bytes of %d for %s: %w", n.n, size, d, store.ErrDigestMismatch)}
		}
		parsed, err := cid.Decode(last.Hash)
		if err != nil {
			return fmt.Errorf("ipfs backend: add answered CID %q: %w", last.Hash, err)
		}
		c = parsed
		return nil
	})
	if err != nil {
		return cid.Undef, fmt.Errorf("ipfs backend: adding %s (%d bytes) to the node at %s: %w", d, size, b.addr, err)
	}
	b.adds.Add(1)
	return c, nil
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }
