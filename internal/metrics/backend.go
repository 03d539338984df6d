package metrics

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/dfsreg/dfsreg/internal/store"
)

// backendOps are the values of the op label.
var backendOps = []string{"open", "stat", "delete", "stage", "write", "commit", "abort", "ping"}

// WrapBackend returns b observed: each operation's latency and failures are
// recorded. The result is a store.LocatingBackend when b is one, and a
// store.Pinger (answering nil when b is not one).
func (m *Metrics) WrapBackend(b store.Backend) store.Backend {
	ob := &observedBackend{b: b, m: m}
	if lb, ok := b.(store.LocatingBackend); ok {
		return &observedLocating{observedBackend: ob, lb: lb}
	}
	return ob
}

type observedBackend struct {
	b store.Backend
	m *Metrics
}

// observe records one operation that started at start and ended with err.
func (m *Metrics) observe(op string, start time.Time, err error) {
	m.backendD.WithLabelValues(op).Observe(time.Since(start).Seconds())
	m.countErr(op, err)
}

func (m *Metrics) countErr(op string, err error) {
	if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, context.Canceled) {
		m.backendE.WithLabelValues(op).Inc()
	}
}

func (o *observedBackend) Open(ctx context.Context, d digest.Digest, offset, length int64) (io.ReadCloser, error) {
	start := time.Now()
	rc, err := o.b.Open(ctx, d, offset, length)
	o.m.observe("open", start, err)
	return rc, err
}

func (o *observedBackend) Stat(ctx context.Context, d digest.Digest) (int64, error) {
	start := time.Now()
	n, err := o.b.Stat(ctx, d)
	o.m.observe("stat", start, err)
	return n, err
}

func (o *observedBackend) Delete(ctx context.Context, d digest.Digest) error {
	start := time.Now()
	err := o.b.Delete(ctx, d)
	o.m.observe("delete", start, err)
	return err
}

func (o *observedBackend) Stage(ctx context.Context, handle string, offset int64) (store.Staged, error) {
	start := time.Now()
	st, err := o.b.Stage(ctx, handle, offset)
	o.m.observe("stage", start, err)
	if err != nil {
		return nil, err
	}
	return &observedStaged{Staged: st, m: o.m}, nil
}

// Ping passes through to the backend when it is a store.Pinger.
func (o *observedBackend) Ping(ctx context.Context) error {
	p, ok := o.b.(store.Pinger)
	if !ok {
		return nil
	}
	start := time.Now()
	err := p.Ping(ctx)
	o.m.observe("ping", start, err)
	return err
}

type observedLocating struct {
	*observedBackend
	lb store.LocatingBackend
}

func (o *observedLocating) OpenLocated(ctx context.Context, d digest.Digest, locator string, offset, length int64) (io.ReadCloser, error) {
	start := time.Now()
	rc, err := o.lb.OpenLocated(ctx, d, locator, offset, length)
	o.m.observe("open", start, err)
	return rc, err
}

func (o *observedLocating) DeleteLocated(ctx context.Context, d digest.Digest, locator string) error {
	start := time.Now()
	err := o.lb.DeleteLocated(ctx, d, locator)
	o.m.observe("delete", start, err)
	return err
}

// observedStaged counts write failures (writes are too many and too small
// to time one by one) and times Commit and Abort.
type observedStaged struct {
	store.Staged
	m *Metrics
}

func (s *observedStaged) Write(p []byte) (int, error) {
	n, err := s.Staged.Write(p)
	s.m.countErr("write", err)
	return n, err
}

func (s *observedStaged) Commit(ctx context.Context, d digest.Digest, verify bool) error {
	start := time.Now()
	err := s.Staged.Commit(ctx, d, verify)
	// A digest mismatch is the client's (or a restart's) doing, not the
	// backend failing.
	if errors.Is(err, store.ErrDigestMismatch) {
		s.m.backendD.WithLabelValues("commit").Observe(time.Since(start).Seconds())
	} else {
		s.m.observe("commit", start, err)
	}
	return err
}

func (s *observedStaged) Abort(ctx context.Context) error {
	start := time.Now()
	err := s.Staged.Abort(ctx)
	s.m.observe("abort", start, err)
	return err
}

// Location passes the wrapped upload's location through (the zero Location,
// "the digest finds it", when it has none).
func (s *observedStaged) Location() store.Location {
	if l, ok := s.Staged.(store.Located); ok {
		return l.Location()
	}
	return store.Location{}
}
