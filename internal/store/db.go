package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver
)

// db is the metadata database: a pool of readers and one writer connection.
// Writes are pipelined in two stages. The writer goroutine runs queued
// writes in one transaction (each in its own savepoint, so one failure does
// not undo the others) and commits it; syncers then make the commits
// durable with an fdatasync of the WAL, and only then are the writes
// answered. While a sync runs the writer already commits the next batch and
// another syncer may already sync it: fdatasync makes durable what was
// written before the call, so syncs may overlap and finish in any order,
// and the device is kept busy instead of idling between syncs.
//
// A commit is visible to readers before it is durable; reads therefore pass
// a gate (settle) that waits, only while a sync is under way, until what
// they may have seen is durable. No answer, write or read, ever depends on
// metadata a crash could take back.
type db struct {
	path   string
	read   *sql.DB
	write  *sql.DB
	queue  chan writeReq
	closed chan struct{}
	// closeMu and closing keep writes from being sent to a closed queue.
	closeMu sync.RWMutex
	closing bool

	// committing counts batches whose commit has begun (a reader may see
	// them from then on), committed those whose commit has ended; durable
	// is the highest batch known durable.
	committing, committed, durable atomic.Uint64
	// failed is set, for good, by the first failed WAL sync: after it
	// nothing committed can be known durable (a later fdatasync may report
	// success for pages the failed one dropped), so every write and every
	// read that needs durability fails with it.
	failed atomic.Pointer[error]
	// syncMu guards the rest: batches waiting for a sync, the highest
	// batch a started sync covers, whether the writer has stopped, and
	// durableCh, closed and replaced each time durable moves.
	syncMu      sync.Mutex
	syncCond    *sync.Cond
	unsynced    []syncReq
	syncStarted uint64
	writerDone  bool
	durableCh   chan struct{}

	// sync makes the WAL durable (syncWAL; tests hold it back).
	sync func() error
	// afterCommit, when set (tests), runs between a batch's commit and
	// its hand-over to the syncers.
	afterCommit func()

	// stop and stopped end the checkpointer; kick asks it for a
	// checkpoint now (the writer, every checkpointEvery commits); ckpt is
	// its own connection.
	stop, stopped chan struct{}
	kick          chan struct{}
	ckpt          *sql.DB
	commits       int

	// Prepared statements, by query text: parsing SQL costs more than
	// running it.
	rstmts, wstmts stmtCache

	// readOnly: opened by openDBReadOnly, with no writer.
	readOnly bool
}

// syncReq is a committed batch waiting for a sync: seq is its number in
// committed; reqs and errs are its writes and their own results, err the
// whole batch's (commit) failure.
type syncReq struct {
	seq  uint64
	err  error
	reqs []writeReq
	errs []error
}

type writeReq struct {
	fn   func(*tx) error
	done chan error
}

type stmtCache struct {
	mu sync.Mutex
	db *sql.DB
	m  map[string]*sql.Stmt
}

func (c *stmtCache) get(query string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok {
		return st, nil
	}
	st, err := c.db.Prepare(query)
	if err != nil {
		return nil, err
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[query] = st
	return st, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m = nil
}

// queryRow runs a read-only query on the reader pool.
func (d *db) queryRow(ctx context.Context, query string, args ...any) *row {
	st, err := d.rstmts.get(query)
	if err != nil {
		return &row{err: err}
	}
	return &row{r: st.QueryRowContext(ctx, args...), d: d}
}

// query runs a read-only query on the reader pool.
func (d *db) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := d.rstmts.get(query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// row is *sql.Row that can also carry a preparation error. A row read from
// the reader pool (d set) passes the durability gate once scanned.
type row struct {
	r   *sql.Row
	err error
	d   *db
}

func (r *row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	err := r.r.Scan(dest...)
	if r.d != nil {
		if serr := r.d.settle(); serr != nil {
			return serr
		}
	}
	return err
}

// tx is a write transaction whose statements are prepared once.
type tx struct {
	t *sql.Tx
	d *db
}

func (t *tx) Exec(query string, args ...any) (sql.Result, error) {
	st, err := t.d.wstmts.get(query)
	if err != nil {
		return nil, err
	}
	return t.t.Stmt(st).Exec(args...)
}

func (t *tx) QueryRow(query string, args ...any) *row {
	st, err := t.d.wstmts.get(query)
	if err != nil {
		return &row{err: err}
	}
	return &row{r: t.t.Stmt(st).QueryRow(args...)}
}

func (t *tx) Query(query string, args ...any) (*sql.Rows, error) {
	st, err := t.d.wstmts.get(query)
	if err != nil {
		return nil, err
	}
	return t.t.Stmt(st).Query(args...)
}

// maxBatch bounds how many writes share one transaction.
const maxBatch = 128

func openDB(path string) (*db, error) {
	// WAL lets readers run beside the writer. Durability: SQLite's own
	// synchronous=FULL would fsync the WAL at every commit; instead the
	// writer runs with NORMAL (SQLite syncs around checkpoints, and WAL mode
	// stays corruption-safe) and commit() fdatasyncs the WAL itself before
	// any write is acknowledged: the same guarantee, at the price of an
	// fdatasync, which costs well under an fsync when the WAL is rewritten
	// in place.
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(NORMAL)", "foreign_keys(ON)"} {
		q.Add("_pragma", p)
	}
	dsn := "file:" + filepath.ToSlash(path) + "?" + q.Encode()
	// Statement and savepoint journals stay in memory (temp_store): every
	// batched write is a savepoint and every multi-row insert would
	// otherwise write a temporary file.
	// Checkpoints run in the background (checkpointer), a few dozen
	// commits apart, beside the writer. Under a steady stream of writes
	// they never reach the end of the WAL, which would then grow without
	// bound (and every sync would also flush its new size), so the writer
	// checkpoints too once the WAL passes 1000 pages: the background has
	// already copied all but the last few commits' pages, so this is
	// short, it completes (no write runs beside it), and the next commit
	// rewrites the WAL from its start, in place. (The writer alone copying
	// all 1000 pages held every write up for ~17 ms each time: a third of
	// its time under load.)
	w, err := sql.Open("sqlite", dsn+"&_txlock=immediate&_pragma=wal_autocheckpoint(1000)&_pragma=temp_store(MEMORY)")
	if err != nil {
		return nil, err
	}
	// One writer goroutine runs every transaction; the second connection
	// only lets a statement be prepared while a transaction holds the
	// first (Tx.Stmt then prepares it once on the transaction's connection).
	w.SetMaxOpenConns(2)
	w.SetMaxIdleConns(2)
	w.SetConnMaxIdleTime(0)
	if err := migrate(w); err != nil {
		w.Close()
		return nil, fmt.Errorf("metadata %s: %w", path, err)
	}
	if err := syncWAL(path); err != nil {
		w.Close()
		return nil, err
	}
	ck, err := sql.Open("sqlite", dsn)
	if err != nil {
		w.Close()
		return nil, err
	}
	ck.SetMaxOpenConns(1)
	ck.SetConnMaxIdleTime(0)
	r, err := sql.Open("sqlite", dsn+"&mode=ro")
	if err != nil {
		w.Close()
		ck.Close()
		return nil, err
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	d := &db{path: path, read: r, write: w, queue: make(chan writeReq, maxBatch),
		closed: make(chan struct{}), durableCh: make(chan struct{}), stop: make(chan struct{}), stopped: make(chan struct{}),
		kick: make(chan struct{}, 1), ckpt: ck}
	d.syncCond = sync.NewCond(&d.syncMu)
	d.sync = func() error { return syncWAL(path) }
	d.rstmts.db, d.wstmts.db = r, w
	go d.writer()
	var wg sync.WaitGroup
	for range syncers {
		wg.Go(d.syncer)
	}
	go func() { wg.Wait(); close(d.closed) }()
	go d.checkpointer()
	return d, nil
}

// checkpointInterval is how often the WAL is copied back into the database
// when the writer asks for nothing; checkpointEvery is how many commits
// apart the writer asks.
const (
	checkpointInterval = time.Second
	checkpointEvery    = 32
)

// checkpointer copies the WAL back into the database file beside the writer
// (a PASSIVE checkpoint never blocks it): when the writer asks, at least
// every checkpointInterval, and once more on close.
func (d *db) checkpointer() {
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			d.ckpt.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
			close(d.stopped)
			return
		case <-d.kick:
		case <-t.C:
		}
		d.ckpt.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
	}
}

func (d *db) Close() error {
	d.closeMu.Lock()
	d.closing = true
	close(d.queue)
	d.closeMu.Unlock()
	<-d.closed
	close(d.stop)
	<-d.stopped
	d.rstmts.close()
	d.wstmts.close()
	return errors.Join(d.read.Close(), d.ckpt.Close(), d.write.Close())
}

// update runs fn in a write transaction, possibly batched with others, and
// returns once the commit is durable.
func (d *db) update(ctx context.Context, fn func(*tx) error) error {
	req := writeReq{fn: fn, done: make(chan error, 1)}
	if err := d.enqueue(ctx, req); err != nil {
		return err
	}
	// Once queued the write is committed or failed whatever the caller's
	// context says: waiting for it keeps "acknowledged" and "durable" one.
	return <-req.done
}

// ErrClosed is returned by writes that arrive after the store was closed
// (a request still running when a shutdown's grace period ran out).
var ErrClosed = errors.New("store is closed")

// enqueue hands req to the writer unless the database is closing. The read
// lock makes "check closing, then send" one step against Close.
func (d *db) enqueue(ctx context.Context, req writeReq) error {
	if d.readOnly {
		return ErrReadOnly
	}
	d.closeMu.RLock()
	defer d.closeMu.RUnlock()
	if d.closing {
		return ErrClosed
	}
	if f := d.failed.Load(); f != nil {
		return *f
	}
	select {
	case d.queue <- req:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// syncers is how many syncs may be under way at once.
const syncers = 3

// writer commits what is queued, a batch at a time, and hands each
// committed batch to the syncers. It never waits for more writes: batches
// form while the previous one commits.
func (d *db) writer() {
	defer func() {
		d.syncMu.Lock()
		d.writerDone = true
		d.syncCond.Broadcast()
		d.syncMu.Unlock()
	}()
	for first := range d.queue {
		batch := []writeReq{first}
	fill:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-d.queue:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		// The number is taken before the commit begins, so that a reader
		// that sees this batch's rows also sees it in committing and waits
		// for its sync.
		seq := d.committing.Add(1)
		errs, err := d.commit(batch)
		if d.commits++; d.commits%checkpointEvery == 0 {
			select {
			case d.kick <- struct{}{}:
			default: // one is under way
			}
		}
		if d.afterCommit != nil {
			d.afterCommit()
		}
		d.syncMu.Lock()
		d.committed.Store(seq)
		d.unsynced = append(d.unsynced, syncReq{seq: seq, err: err, reqs: batch, errs: errs})
		d.syncCond.Signal()
		d.syncMu.Unlock()
	}
}

// syncer makes committed batches durable: each sync covers every batch
// committed when it starts, and answers their writes when it ends.
func (d *db) syncer() {
	d.syncMu.Lock()
	defer d.syncMu.Unlock()
	for {
		for d.syncStarted >= d.committed.Load() && !d.writerDone {
			d.syncCond.Wait()
		}
		target := d.committed.Load()
		if d.syncStarted >= target { // the writer is done and all is synced
			return
		}
		d.syncStarted = target
		d.syncMu.Unlock()
		serr := d.sync()
		d.syncMu.Lock()
		if serr != nil && d.failed.Load() == nil {
			serr = fmt.Errorf("%w: %w", ErrSyncFailed, serr)
			d.failed.Store(&serr)
		}
		if f := d.failed.Load(); f != nil {
			serr = *f // nothing is known durable any more
		} else if target > d.durable.Load() {
			d.durable.Store(target)
		}
		close(d.durableCh) // wake readers: moved on, or failed
		d.durableCh = make(chan struct{})
		n := 0
		for n < len(d.unsynced) && d.unsynced[n].seq <= target {
			b := d.unsynced[n]
			for i, r := range b.reqs {
				switch {
				case b.err != nil:
					r.done <- b.err
				case b.errs[i] != nil:
					r.done <- b.errs[i]
				default:
					r.done <- serr
				}
			}
			n++
		}
		d.unsynced = append(d.unsynced[:0], d.unsynced[n:]...)
	}
}

// ErrSyncFailed marks the failure of a WAL sync: the store then refuses
// every write and every read that needs durability until it is reopened.
var ErrSyncFailed = errors.New("metadata: making commits durable failed; restart dfsreg")

// settle is the read gate: it returns once every batch whose commit had
// begun when it was called is durable. Called after a read, it makes sure
// the read saw nothing a crash could take back; it costs two atomic loads
// unless a sync is under way, and then at most that sync. It fails once a
// sync has failed.
func (d *db) settle() error {
	c := d.committing.Load()
	for {
		if f := d.failed.Load(); f != nil {
			return *f
		}
		if d.durable.Load() >= c {
			return nil
		}
		d.syncMu.Lock()
		ch := d.durableCh
		moved := d.durable.Load() >= c || d.failed.Load() != nil
		d.syncMu.Unlock()
		if !moved {
			<-ch
		}
	}
}

// commit runs batch in one transaction and commits it (without a sync).
// errs holds each write's own failure (its savepoint rolled back); err is a
// failure of the whole transaction.
func (d *db) commit(batch []writeReq) (errs []error, err error) {
	errs = make([]error, len(batch))
	st, err := d.write.Begin()
	if err != nil {
		return errs, err
	}
	t := &tx{t: st, d: d}
	if len(batch) == 1 { // alone: its failure rolls back the whole transaction
		if errs[0] = batch[0].fn(t); errs[0] != nil {
			st.Rollback()
			return errs, nil
		}
		return errs, st.Commit()
	}
	for i, r := range batch {
		if _, err := t.Exec("SAVEPOINT w"); err != nil {
			st.Rollback()
			return errs, err
		}
		if errs[i] = r.fn(t); errs[i] != nil {
			if _, err := t.Exec("ROLLBACK TO w"); err != nil {
				st.Rollback()
				return errs, err
			}
		}
		if _, err := t.Exec("RELEASE w"); err != nil {
			st.Rollback()
			return errs, err
		}
	}
	return errs, st.Commit()
}

func unixNow() int64 { return time.Now().UnixMilli() }

// syncWAL makes every commit written so far durable: it fdatasyncs the
// database's write-ahead log. The file is opened by name each time, so the
// sync always reaches the WAL SQLite is using now.
func syncWAL(dbPath string) error {
	f, err := os.Open(dbPath + "-wal")
	if errors.Is(err, fs.ErrNotExist) {
		return nil // nothing was written through the WAL (yet)
	}
	if err != nil {
		return fmt.Errorf("making the commit durable: %w", err)
	}
	defer f.Close()
	if err := datasync(f); err != nil {
		return fmt.Errorf("making the commit durable: %w", err)
	}
	return nil
}
