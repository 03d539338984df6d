// Package logbuf batches log output: what is written within an interval
// reaches the underlying writer in one write, at most that interval late.
// A busy server's request log then costs a write system call per batch
// instead of one per request.
package logbuf

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// maxBuffer is how much a Writer holds before it writes at once.
const maxBuffer = 64 << 10

// Writer buffers writes to an io.Writer. It is safe for concurrent use.
type Writer struct {
	w     io.Writer
	every time.Duration
	// after schedules a flush (time.AfterFunc; tests run it themselves).
	after func(time.Duration, func())

	mu     sync.Mutex
	buf    []byte
	armed  bool // a flush is scheduled
	closed bool
}

// New returns a Writer that passes what it is given to w within every.
func New(w io.Writer, every time.Duration) *Writer {
	return &Writer{w: w, every: every, after: func(d time.Duration, f func()) { time.AfterFunc(d, f) }}
}

// Write buffers p (whole: a log record is never split between writes). A
// write error of the underlying writer is returned by the Write that
// triggers the flush, or by Flush.
func (b *Writer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || len(p) > maxBuffer {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
		return b.w.Write(p)
	}
	if len(b.buf)+len(p) > maxBuffer {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
	}
	b.buf = append(b.buf, p...)
	if !b.armed {
		b.armed = true
		b.after(b.every, func() { b.Flush() })
	}
	return len(p), nil
}

// Flush writes what is buffered now.
func (b *Writer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.armed = false
	return b.flushLocked()
}

func (b *Writer) flushLocked() error {
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.w.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}

// Close flushes and makes later writes go straight through (logging may
// go on after a server stops). It does not close the underlying writer.
func (b *Writer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return b.flushLocked()
}

// Handler wraps h, which writes to b, so that every record batched does
// not hold is written out at once, with what was buffered before it: only
// the records batched chooses wait for the interval, and the output keeps
// its order.
func Handler(h slog.Handler, b *Writer, batched func(slog.Record) bool) slog.Handler {
	return &handler{h: h, b: b, batched: batched}
}

type handler struct {
	h       slog.Handler
	b       *Writer
	batched func(slog.Record) bool
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	err := h.h.Handle(ctx, r)
	if !h.batched(r) {
		if ferr := h.b.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &handler{h: h.h.WithAttrs(as), b: h.b, batched: h.batched}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{h: h.h.WithGroup(name), b: h.b, batched: h.batched}
}
