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

// db is the metadata database: a pool of readers and one writer connection
// whose transactions are batched (group commit): concurrent writes share one
// commit, hence one fsync, and each runs in its own savepoint so one failure
// does not undo the others.
type db struct {
	path   string
	read   *sql.DB
	write  *sql.DB
	queue  chan writeReq
	closed chan struct{}
	// closeMu and closing keep writes from being sent to a closed queue.
	closeMu sync.RWMutex
	closing bool
	// lastContention is when writes were last seen queued behind a commit.
	lastContention atomic.Int64
	// pending counts announced writes not yet queued (see intent).
	pending atomic.Int64
	// stop and stopped end the checkpointer.
	stop, stopped chan struct{}

	// Prepared statements, by query text: parsing SQL costs more than
	// running it.
	rstmts, wstmts stmtCache

	// readOnly: opened by openDBReadOnly, with no writer.
	readOnly bool
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
	return &row{r: st.QueryRowContext(ctx, args...)}
}

// query runs a read-only query on the reader pool.
func (d *db) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := d.rstmts.get(query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// row is *sql.Row that can also carry a preparation error.
type row struct {
	r   *sql.Row
	err error
}

func (r *row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	return r.r.Scan(dest...)
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
	// Checkpoints run in the background (checkpointer), not inside the
	// commit of whichever write happens to cross the threshold.
	w, err := sql.Open("sqlite", dsn+"&_txlock=immediate&_pragma=wal_autocheckpoint(0)")
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
	r, err := sql.Open("sqlite", dsn+"&mode=ro")
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	d := &db{path: path, read: r, write: w, queue: make(chan writeReq, maxBatch), closed: make(chan struct{}),
		stop: make(chan struct{}), stopped: make(chan struct{})}
	d.rstmts.db, d.wstmts.db = r, w
	go d.writer()
	go d.checkpointer()
	return d, nil
}

// checkpointInterval is how often the WAL is copied back into the database.
const checkpointInterval = time.Second

// checkpointer copies the WAL back into the database file periodically,
// beside the writer (a PASSIVE checkpoint never blocks it), and once more on
// close.
func (d *db) checkpointer() {
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			d.write.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
			close(d.stopped)
			return
		case <-t.C:
			d.write.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
		}
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
	return errors.Join(d.read.Close(), d.write.Close())
}

// update runs fn in a write transaction, possibly batched with others, and
// returns once the commit is durable.
func (d *db) update(ctx context.Context, fn func(*tx) error) error {
	return d.updateIntended(ctx, nil, fn)
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
	select {
	case d.queue <- req:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// intent announces a write that is being prepared (a manifest being
// parsed): the writer waits a moment for announced writes, so that
// concurrent requests share one commit and one fsync instead of queueing
// for one each.
type intent struct {
	d    *db
	once sync.Once
}

// maxWait bounds how long a batch waits for announced writes.
const maxWait = time.Millisecond

func (d *db) intend() *intent {
	d.pending.Add(1)
	return &intent{d: d}
}

// done withdraws the announcement (the write was queued, or abandoned).
func (i *intent) done() { i.once.Do(func() { i.d.pending.Add(-1) }) }

// updateIntended is update for an announced write.
func (d *db) updateIntended(ctx context.Context, it *intent, fn func(*tx) error) error {
	req := writeReq{fn: fn, done: make(chan error, 1)}
	err := d.enqueue(ctx, req)
	if it != nil {
		it.done()
	}
	if err != nil {
		return err
	}
	// Once queued the write is committed or failed whatever the caller's
	// context says: waiting for it keeps "acknowledged" and "durable" one.
	return <-req.done
}

func (d *db) writer() {
	defer close(d.closed)
	timer := time.NewTimer(0)
	<-timer.C
	for first := range d.queue {
		batch := []writeReq{first}
		waited := false
	fill:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-d.queue:
				if !ok {
					break fill
				}
				batch = append(batch, r)
				continue
			default:
			}
			if !waited && d.pending.Load() == 0 && len(batch) == 1 && d.contended() {
				// Writers have been queueing behind commits: wait a moment
				// for the next one so that both share this commit's fsync
				// (the clients then stay in step). A lone client never
				// queues, so it never waits.
				waited = true
				timer.Reset(contendedWait)
				select {
				case r, ok := <-d.queue:
					if ok {
						batch = append(batch, r)
					}
				case <-timer.C:
				}
				if !timer.Stop() {
					select {
					case <-timer.C:
					default:
					}
				}
				continue
			}
			if waited || d.pending.Load() == 0 {
				break
			}
			// Writes are on their way: give them up to maxWait.
			waited = true
			timer.Reset(maxWait)
			for d.pending.Load() > 0 && len(batch) < maxBatch {
				select {
				case r, ok := <-d.queue:
					if !ok {
						break fill
					}
					batch = append(batch, r)
					continue
				case <-timer.C:
				}
				break
			}
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
		d.commit(batch)
		if len(d.queue) > 0 {
			d.lastContention.Store(time.Now().UnixNano())
		}
	}
}

// contendedWait is how long a batch of one waits for a second writer when
// writers have recently queued behind commits (see contended).
const contendedWait = 500 * time.Microsecond

// contended reports whether, within the last 100 ms, writes were left
// waiting in the queue when a commit ended.
func (d *db) contended() bool {
	return time.Now().UnixNano()-d.lastContention.Load() < int64(100*time.Millisecond)
}

func (d *db) commit(batch []writeReq) {
	errs := make([]error, len(batch))
	err := func() error {
		st, err := d.write.Begin()
		if err != nil {
			return err
		}
		t := &tx{t: st, d: d}
		if len(batch) == 1 { // alone: its failure rolls back the whole transaction
			if errs[0] = batch[0].fn(t); errs[0] != nil {
				st.Rollback()
				return nil
			}
			if err := st.Commit(); err != nil {
				return err
			}
			return syncWAL(d.path)
		}
		for i, r := range batch {
			if _, err := t.Exec("SAVEPOINT w"); err != nil {
				st.Rollback()
				return err
			}
			if errs[i] = r.fn(t); errs[i] != nil {
				if _, err := t.Exec("ROLLBACK TO w"); err != nil {
					st.Rollback()
					return err
				}
			}
			if _, err := t.Exec("RELEASE w"); err != nil {
				st.Rollback()
				return err
			}
		}
		if err := st.Commit(); err != nil {
			return err
		}
		return syncWAL(d.path)
	}()
	for i, r := range batch {
		if err != nil {
			r.done <- err
		} else {
			r.done <- errs[i]
		}
	}
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
