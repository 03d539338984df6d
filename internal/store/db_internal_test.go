package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// heldSyncs replaces the store's WAL sync with one the test completes: each
// sync announces itself on the returned channel and returns what the test
// sends it.
func heldSyncs(s *Store) chan chan error {
	calls := make(chan chan error)
	s.db.sync = func() error {
		c := make(chan error)
		calls <- c
		return <-c
	}
	return calls
}

// heldStore opens a store whose syncs the test completes (heldSyncs); at
// cleanup every sync still to come succeeds and the store is closed.
func heldStore(t *testing.T) (*Store, chan chan error) {
	t.Helper()
	s, err := Open(t.Context(), Options{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	calls := heldSyncs(s)
	t.Cleanup(func() {
		go func() {
			for c := range calls {
				c <- nil
			}
		}()
		s.Close()
	})
	return s, calls
}

func nextSync(t *testing.T, calls chan chan error) chan error {
	t.Helper()
	select {
	case c := <-calls:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no sync started")
		return nil
	}
}

// insertRepo adds repository name in a write of its own and returns its
// answer's channel.
func insertRepo(ctx context.Context, s *Store, name string) <-chan error {
	done := make(chan error, 1)
	go func() {
		done <- s.db.update(ctx, func(tx *tx) error {
			_, err := tx.Exec(`INSERT INTO repos (name, created) VALUES (?, 0)`, name)
			return err
		})
	}()
	return done
}

// blocked reports whether nothing arrives on c for a moment.
func blocked[T any](c <-chan T) bool {
	select {
	case <-c:
		return false
	case <-time.After(50 * time.Millisecond):
		return true
	}
}

func waitFor[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("%s never happened", what)
		var zero T
		return zero
	}
}

// TestCommitPipeline: a write is answered only after a sync that started
// after its commit has ended; a read that could see a commit not yet
// durable waits for it; syncs overlap and may end in any order.
func TestCommitPipeline(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, Options{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	calls := heldSyncs(s)
	insert := func(name string) <-chan error { return insertRepo(ctx, s, name) }
	count := func() <-chan int {
		out := make(chan int, 1)
		go func() {
			var n int
			if err := s.db.queryRow(ctx, `SELECT count(*) FROM repos WHERE name IN ('a', 'b')`).Scan(&n); err != nil {
				t.Error(err)
			}
			out <- n
		}()
		return out
	}

	w1 := insert("a")
	sync1 := nextSync(t, calls) // covers w1's commit
	if !blocked(w1) {
		t.Fatal("write answered before its sync ended")
	}
	r1 := count()
	if !blocked(r1) {
		t.Fatal("read of a commit not yet durable returned")
	}
	w2 := insert("b")
	sync2 := nextSync(t, calls) // started while sync1 runs: covers both
	if !blocked(w2) {
		t.Fatal("second write answered before any sync ended")
	}
	sync2 <- nil // the later sync ends first
	if err := waitFor(t, w2, "answer to the second write"); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(t, w1, "answer to the first write (covered by the later sync)"); err != nil {
		t.Fatal(err)
	}
	if n := waitFor(t, r1, "the gated read"); n < 1 {
		t.Fatalf("gated read saw %d rows, want the first write", n)
	}
	sync1 <- nil // ending late changes nothing
	if n := waitFor(t, count(), "a read with everything durable"); n != 2 {
		t.Fatalf("read saw %d rows, want 2", n)
	}

	// Close syncs what is committed and answers everything first.
	w4 := insert("d")
	sync4 := nextSync(t, calls)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	if !blocked(closed) {
		t.Fatal("Close returned with a sync under way")
	}
	sync4 <- nil
	if err := waitFor(t, w4, "answer to the last write"); err != nil {
		t.Fatal(err)
	}
	go func() {
		for c := range calls { // Close's own syncs, if any
			c <- nil
		}
	}()
	if err := waitFor(t, closed, "Close"); err != nil {
		t.Fatal(err)
	}
}

// TestReadBetweenCommitAndSync: a read that sees a batch whose commit has
// ended but which has not yet reached the syncers still waits for its sync.
func TestReadBetweenCommitAndSync(t *testing.T) {
	ctx := t.Context()
	s, calls := heldStore(t)
	committed, release := make(chan struct{}), make(chan struct{})
	s.db.afterCommit = func() {
		close(committed)
		<-release
		s.db.afterCommit = nil // only the first batch
	}
	done := insertRepo(ctx, s, "x")
	waitFor(t, committed, "the commit")
	read := make(chan int, 1)
	go func() {
		var n int
		if err := s.db.queryRow(ctx, `SELECT count(*) FROM repos WHERE name = 'x'`).Scan(&n); err != nil {
			t.Error(err)
		}
		read <- n
	}()
	if !blocked(read) {
		t.Fatal("a read of a commit not yet handed to the syncers returned")
	}
	close(release)
	nextSync(t, calls) <- nil
	if n := waitFor(t, read, "the gated read"); n != 1 {
		t.Fatalf("read saw %d rows, want 1", n)
	}
	if err := waitFor(t, done, "the write"); err != nil {
		t.Fatal(err)
	}
}

// TestSyncFailure: a failed sync fails the writes it covers, and from then
// on the store refuses writes and reads that need durability, even when a
// later sync reports success (after a failed fdatasync the kernel may have
// dropped the pages and report the next one clean).
func TestSyncFailure(t *testing.T) {
	ctx := t.Context()
	s, calls := heldStore(t)
	insert := func(name string) <-chan error { return insertRepo(ctx, s, name) }
	broken := errors.New("disk on fire")
	w1 := insert("a")
	sync1 := nextSync(t, calls)
	w2 := insert("b")
	sync2 := nextSync(t, calls) // overlaps sync1, covers both
	sync1 <- broken
	if err := waitFor(t, w1, "the write whose sync failed"); !errors.Is(err, broken) || !errors.Is(err, ErrSyncFailed) {
		t.Fatalf("write whose sync failed: %v, want %v", err, broken)
	}
	sync2 <- nil // reports success, too late
	if err := waitFor(t, w2, "the second write"); !errors.Is(err, ErrSyncFailed) {
		t.Fatalf("write covered by a later, successful sync after a failure: %v, want ErrSyncFailed", err)
	}
	var n int
	if err := s.db.queryRow(ctx, `SELECT count(*) FROM repos`).Scan(&n); !errors.Is(err, ErrSyncFailed) {
		t.Fatalf("read after a failed sync: %v, want ErrSyncFailed", err)
	}
	if err := waitFor(t, insert("c"), "a write after the failure"); !errors.Is(err, ErrSyncFailed) {
		t.Fatalf("write after a failed sync: %v, want ErrSyncFailed", err)
	}
}

// TestWALStaysBounded: under a steady stream of commits (two writers, no
// pause) the WAL is still rewritten from its start now and then: the
// background checkpointer copies it, the writer finishes the copy once it
// passes 1000 pages, and the file never grows much past that.
func TestWALStaysBounded(t *testing.T) {
	root := t.TempDir()
	s, err := Open(t.Context(), Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const perWriter = 1500
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for w := range 2 {
		wg.Go(func() {
			for i := range perWriter {
				if err := <-insertRepo(t.Context(), s, fmt.Sprintf("w%d/repository-with-a-longish-name-%06d", w, i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var repos int
	if err := s.db.queryRow(t.Context(), `SELECT count(*) FROM repos`).Scan(&repos); err != nil || repos != 2*perWriter {
		t.Fatalf("%d repositories, %v", repos, err)
	}
	fi, err := os.Stat(filepath.Join(root, DBFile+"-wal"))
	if err != nil {
		t.Fatal(err)
	}
	// 1000 pages of 4 KiB plus frame headers, and the commits that land
	// while the writer's own checkpoint waits for its turn.
	const bound = 2000 * 4120
	if fi.Size() > bound {
		t.Fatalf("the WAL grew to %d bytes after %d commits; want at most %d (it is never restarted)", fi.Size(), 2*perWriter, bound)
	}
	t.Logf("WAL %d bytes after %d commits", fi.Size(), 2*perWriter)
}
