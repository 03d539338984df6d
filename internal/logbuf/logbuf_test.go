package logbuf

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is an io.Writer that keeps each write separately.
type recorder struct {
	mu     sync.Mutex
	writes []string
	err    error
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return 0, r.err
	}
	r.writes = append(r.writes, string(p))
	return len(p), nil
}

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.writes...)
}

func TestBatchesWithinInterval(t *testing.T) {
	rec := &recorder{}
	w := New(rec, time.Hour)
	// The test runs the scheduled flushes itself: no assertion depends on
	// how fast the machine is.
	var scheduled []func()
	w.after = func(d time.Duration, f func()) {
		if d != time.Hour {
			t.Errorf("flush scheduled after %v, want the interval", d)
		}
		scheduled = append(scheduled, f)
	}
	for _, line := range []string{"a\n", "b\n", "c\n"} {
		if n, err := w.Write([]byte(line)); err != nil || n != len(line) {
			t.Fatalf("Write(%q) = %d, %v", line, n, err)
		}
	}
	if got := rec.get(); len(got) != 0 {
		t.Fatalf("written before the interval: %q", got)
	}
	if len(scheduled) != 1 {
		t.Fatalf("%d flushes scheduled for three lines, want 1", len(scheduled))
	}
	scheduled[0]()
	if got := rec.get(); len(got) != 1 || got[0] != "a\nb\nc\n" {
		t.Fatalf("after the interval: %q, want one write of the three lines", got)
	}
	// A later line is scheduled again.
	w.Write([]byte("d\n"))
	if len(scheduled) != 2 {
		t.Fatalf("%d flushes scheduled, want 2", len(scheduled))
	}
	scheduled[1]()
	if got := rec.get(); len(got) != 2 || got[1] != "d\n" {
		t.Fatalf("second batch: %q", got)
	}
}

// TestFlushesOnItsOwn: with the real timer, a buffered line is written
// without anyone calling Flush.
func TestFlushesOnItsOwn(t *testing.T) {
	rec := &recorder{}
	w := New(rec, 10*time.Millisecond)
	w.Write([]byte("a\n"))
	deadline := time.Now().Add(10 * time.Second)
	for len(rec.get()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := rec.get(); len(got) != 1 || got[0] != "a\n" {
		t.Fatalf("got %q, want the line written by the timer", got)
	}
}

func TestFullBufferAndLargeWrites(t *testing.T) {
	rec := &recorder{}
	w := New(rec, time.Hour)
	line := strings.Repeat("x", 1000) + "\n"
	total := 0
	for total+len(line) <= maxBuffer {
		w.Write([]byte(line))
		total += len(line)
	}
	if got := rec.get(); len(got) != 0 {
		t.Fatalf("%d writes before the buffer was full", len(got))
	}
	w.Write([]byte(line)) // does not fit: what was buffered goes first, whole
	got := rec.get()
	if len(got) != 1 || len(got[0]) != total {
		t.Fatalf("after filling the buffer: %d writes, first %d bytes; want 1 of %d", len(got), len(got[0]), total)
	}
	big := bytes.Repeat([]byte("y"), maxBuffer+1)
	w.Write(big) // buffered line first, then the big one as it is
	got = rec.get()
	if len(got) != 3 || got[1] != line || got[2] != string(big) {
		t.Fatalf("large write: %d writes", len(got))
	}
}

func TestCloseFlushesAndPassesThrough(t *testing.T) {
	rec := &recorder{}
	w := New(rec, time.Hour)
	w.Write([]byte("a\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("b\n"))
	if got := rec.get(); len(got) != 2 || got[0] != "a\n" || got[1] != "b\n" {
		t.Fatalf("got %q, want the buffered line at Close, then the later one directly", got)
	}
}

func TestWriteErrorIsReported(t *testing.T) {
	boom := errors.New("disk full")
	rec := &recorder{err: boom}
	w := New(rec, time.Hour)
	w.Write([]byte("a\n"))
	if err := w.Flush(); !errors.Is(err, boom) {
		t.Fatalf("Flush = %v, want %v", err, boom)
	}
	w.Write([]byte("b\n"))
	if err := w.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close = %v, want %v", err, boom)
	}
}

// TestHandlerWritesUnbatchedAtOnce: records the predicate does not batch
// are written at once, after what was buffered before them, in order.
func TestHandlerWritesUnbatchedAtOnce(t *testing.T) {
	rec := &recorder{}
	w := New(rec, time.Hour)
	log := slog.New(Handler(slog.NewTextHandler(w, nil), w, func(r slog.Record) bool {
		return r.Message == "request"
	}))
	tests := []struct {
		msg    string
		writes int // underlying writes after the record
	}{
		{"request", 0},
		{"request", 0},
		{"server started", 1}, // both requests and this line, in one write
		{"request", 1},
		{"disk full", 2},
	}
	for i, tt := range tests {
		log.Info(tt.msg, "i", i)
		if got := len(rec.get()); got != tt.writes {
			t.Fatalf("after record %d (%q): %d writes, want %d", i, tt.msg, got, tt.writes)
		}
	}
	got := rec.get()
	for i, want := range []string{"i=0", "i=1", "i=2"} {
		if !strings.Contains(strings.Split(got[0], "\n")[i], want) {
			t.Errorf("first write, line %d: %q, want %s", i, strings.Split(got[0], "\n")[i], want)
		}
	}
	if !strings.Contains(got[1], "i=3") || !strings.Contains(got[1], "i=4") || strings.Index(got[1], "i=3") > strings.Index(got[1], "i=4") {
		t.Errorf("second write %q: want record 3 then record 4", got[1])
	}
	// WithAttrs keeps the behaviour.
	log.With("k", "v").Warn("request")
	if len(rec.get()) != 2 {
		t.Fatalf("a batched record through With was written at once")
	}
}
