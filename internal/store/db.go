package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver
)

// db is the metadata database: a pool of readers and one writer connection
// whose transactions are batched (group commit): concurrent writes share one
// commit, hence one fsync, and each runs in its own savepoint so one failure
// does not undo the others.
type db struct {
	read   *sql.DB
	write  *sql.DB
	queue  chan writeReq
	closed chan struct{}
}

type writeReq struct {
	fn   func(*sql.Tx) error
	done chan error
}

// maxBatch bounds how many writes share one transaction.
const maxBatch = 128

func openDB(path string) (*db, error) {
	// synchronous(FULL): a commit is fsynced before it returns, so nothing
	// acknowledged can be lost; WAL lets readers run beside the writer.
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(ON)"} {
		q.Add("_pragma", p)
	}
	dsn := "file:" + filepath.ToSlash(path) + "?" + q.Encode()
	w, err := sql.Open("sqlite", dsn+"&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	if err := migrate(w); err != nil {
		w.Close()
		return nil, fmt.Errorf("metadata %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn+"&mode=ro")
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	d := &db{read: r, write: w, queue: make(chan writeReq, maxBatch), closed: make(chan struct{})}
	go d.writer()
	return d, nil
}

func (d *db) Close() error {
	close(d.queue)
	<-d.closed
	return errors.Join(d.read.Close(), d.write.Close())
}

// update runs fn in a write transaction, possibly batched with others, and
// returns once the commit is durable.
func (d *db) update(ctx context.Context, fn func(*sql.Tx) error) error {
	req := writeReq{fn: fn, done: make(chan error, 1)}
	select {
	case d.queue <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once queued the write is committed or failed whatever the caller's
	// context says: waiting for it keeps "acknowledged" and "durable" one.
	return <-req.done
}

func (d *db) writer() {
	defer close(d.closed)
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
		d.commit(batch)
	}
}

func (d *db) commit(batch []writeReq) {
	errs := make([]error, len(batch))
	err := func() error {
		tx, err := d.write.Begin()
		if err != nil {
			return err
		}
		for i, r := range batch {
			if _, err := tx.Exec("SAVEPOINT w"); err != nil {
				tx.Rollback()
				return err
			}
			if errs[i] = r.fn(tx); errs[i] != nil {
				if _, err := tx.Exec("ROLLBACK TO w"); err != nil {
					tx.Rollback()
					return err
				}
			}
			if _, err := tx.Exec("RELEASE w"); err != nil {
				tx.Rollback()
				return err
			}
		}
		return tx.Commit()
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
