package store

import (
	"context"
	"sync"
	"time"
)

// A blob a client has just asked about (HEAD or GET) counts as fresh for gc,
// like one just uploaded or mounted: a client that HEADs a blob to skip
// uploading it, then pushes a manifest naming it, must not have it collected
// in between. Reads do not write on the request path: they note the
// (repository, blob) in memory, and one transaction every touchInterval
// refreshes repo_blobs.touched for all of them (and once more on Close).

// touchInterval is how often noted reads are written.
const touchInterval = 2 * time.Second

// maxTouches bounds the noted reads between two flushes; past it, reads
// are not noted until the next flush (they were touched at most
// touchInterval ago by the same traffic, in practice).
const maxTouches = 100_000

type touchKey struct {
	repo   int64
	digest string
}

type touches struct {
	mu   sync.Mutex
	m    map[touchKey]struct{}
	stop chan struct{}
	done chan struct{}
}

func (s *Store) noteRead(repo int64, d string) {
	if s.readOnly {
		return
	}
	t := &s.touches
	t.mu.Lock()
	if len(t.m) < maxTouches {
		if t.m == nil {
			t.m = map[touchKey]struct{}{}
		}
		t.m[touchKey{repo, d}] = struct{}{}
	}
	t.mu.Unlock()
}

// flushTouches writes the noted reads.
func (s *Store) flushTouches(ctx context.Context) error {
	t := &s.touches
	t.mu.Lock()
	m := t.m
	t.m = nil
	t.mu.Unlock()
	if len(m) == 0 {
		return nil
	}
	now := unixNow()
	return s.db.update(ctx, func(tx *tx) error {
		for k := range m {
			if _, err := tx.Exec(`UPDATE repo_blobs SET touched = ? WHERE repo = ? AND digest = ? AND touched < ?`, now, k.repo, k.digest, now); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Store) startToucher() {
	t := &s.touches
	t.stop, t.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(t.done)
		tick := time.NewTicker(touchInterval)
		defer tick.Stop()
		for {
			select {
			case <-t.stop:
				s.flushTouches(context.Background())
				return
			case <-tick.C:
				s.flushTouches(context.Background())
			}
		}
	}()
}

func (s *Store) stopToucher() {
	close(s.touches.stop)
	<-s.touches.done
}
