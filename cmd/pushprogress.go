package cmd

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/opencontainers/go-digest"

	"github.com/dfsreg/dfsreg/internal/inspect"
	"github.com/dfsreg/dfsreg/internal/push"
	"github.com/dfsreg/dfsreg/internal/tdfs"
)

// pushRenderer draws push progress on stderr: on a terminal, a bar per
// blob in flight and a total line, redrawn at most every 100 ms, with a
// line per finished blob above them; otherwise one plain line per event.
type pushRenderer struct {
	w   io.Writer
	tty bool

	mu      sync.Mutex
	start   time.Time
	active  []*blobBar
	byID    map[digest.Digest]*blobBar
	sent    int64 // bytes of blobs sent, progress of active ones included
	total   int64
	blobs   int
	done    int
	drawn   int // lines of the live block on screen
	last    time.Time
	pending []string // finished lines to print above the live block

	ok, dim, warn, accent lipgloss.Style
}

type blobBar struct {
	label string
	d     digest.Digest
	size  int64
	bytes int64
}

func newPushRenderer(w io.Writer, tty bool) *pushRenderer {
	re := lipgloss.NewRenderer(w)
	return &pushRenderer{
		w: w, tty: tty, start: time.Now(), byID: map[digest.Digest]*blobBar{},
		ok:     re.NewStyle().Foreground(lipgloss.Color("10")),
		dim:    re.NewStyle().Faint(true),
		warn:   re.NewStyle().Foreground(lipgloss.Color("11")),
		accent: re.NewStyle().Foreground(lipgloss.Color("14")),
	}
}

func short(d digest.Digest) string {
	s := d.Encoded()
	if len(s) > 12 {
		s = s[:12]
	}
	return s
}

// built reports an allotment built from the 2dfs.json.
func (r *pushRenderer) built(b tdfs.Blob) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.line(fmt.Sprintf("%s allotment (%d,%d) %s %s", r.accent.Render("built"), b.Row, b.Col, short(b.Digest), inspect.HumanBytes(b.Size)))
}

func (r *pushRenderer) event(e push.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch e.Kind {
	case push.PushStart:
		r.blobs, r.total = e.Count, e.Bytes
		r.start = time.Now() // the rate is the transfer's, not the build's
	case push.BlobStart:
		b := &blobBar{label: e.Label, d: e.Desc.Digest, size: e.Desc.Size}
		r.byID[b.d] = b
		r.active = append(r.active, b)
	case push.BlobProgress:
		if b := r.byID[e.Desc.Digest]; b != nil {
			r.sent += e.Bytes - b.bytes
			b.bytes = e.Bytes
		}
	case push.BlobRetry:
		r.line(fmt.Sprintf("%s %s %s: %v", r.warn.Render("retry"), e.Label, short(e.Desc.Digest), e.Err))
	case push.BlobDone:
		if b := r.byID[e.Desc.Digest]; b != nil {
			r.sent -= b.bytes
			delete(r.byID, b.d)
			for i, a := range r.active {
				if a == b {
					r.active = append(r.active[:i], r.active[i+1:]...)
					break
				}
			}
		}
		r.sent += e.Desc.Size
		r.done++
		st := fmt.Sprintf("%-9s", e.Status)
		switch e.Status {
		case push.Uploaded:
			st = r.ok.Render(st)
		case push.Mounted:
			st = r.accent.Render(st)
		default:
			st = r.dim.Render(st)
		}
		r.line(fmt.Sprintf("%s %-9s %s %s", st, e.Label, short(e.Desc.Digest), inspect.HumanBytes(e.Desc.Size)))
	case push.ManifestDone:
		r.line(fmt.Sprintf("%s %s %s", r.ok.Render("pushed"), e.Label, e.Desc.Digest))
	}
	r.draw(false)
}

// line prints a finished line (above the live block on a terminal).
func (r *pushRenderer) line(s string) {
	if !r.tty {
		fmt.Fprintln(r.w, s)
		return
	}
	r.pending = append(r.pending, s)
	r.draw(true)
}

// draw redraws the live block; unless forced, at most every 100 ms.
func (r *pushRenderer) draw(force bool) {
	if !r.tty || (!force && time.Since(r.last) < 100*time.Millisecond) {
		return
	}
	r.last = time.Now()
	var b strings.Builder
	if r.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", r.drawn)
	}
	for _, s := range r.pending {
		b.WriteString("\x1b[2K" + s + "\n")
	}
	r.pending = r.pending[:0]
	r.drawn = 0
	for _, a := range r.active {
		b.WriteString("\x1b[2K" + bar(a) + "\n")
		r.drawn++
	}
	if r.blobs > 0 {
		b.WriteString("\x1b[2K" + r.totals() + "\n")
		r.drawn++
	}
	b.WriteString("\x1b[J")
	io.WriteString(r.w, b.String())
}

func bar(a *blobBar) string {
	const width = 24
	frac := 1.0
	if a.size > 0 {
		frac = float64(a.bytes) / float64(a.size)
	}
	n := int(frac * width)
	return fmt.Sprintf("%-9s %s [%s%s] %3.0f%% %s/%s", a.label, short(a.d), strings.Repeat("=", n), strings.Repeat(" ", width-n), frac*100, inspect.HumanBytes(a.bytes), inspect.HumanBytes(a.size))
}

func (r *pushRenderer) totals() string {
	secs := time.Since(r.start).Seconds()
	rate := ""
	if secs > 0 {
		rate = inspect.HumanBytes(int64(float64(r.sent)/secs)) + "/s"
	}
	return fmt.Sprintf("blobs %d/%d  %s/%s  %s", r.done, r.blobs, inspect.HumanBytes(r.sent), inspect.HumanBytes(r.total), rate)
}

// finish clears the live block and prints the outcome line.
func (r *pushRenderer) finish(res *push.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.active = nil
	r.blobs = 0
	r.draw(true)
	if res == nil {
		return
	}
	mbps := 0.0
	if res.Seconds > 0 {
		mbps = float64(res.BytesSent) / res.Seconds / (1 << 20)
	}
	fmt.Fprintf(r.w, "%d blobs (%d uploaded, %d already there, %d mounted), %s sent in %.2fs (%.1f MiB/s), %d manifests, %d retries\n",
		res.Blobs, res.Uploaded, res.Existing, res.Mounted, inspect.HumanBytes(res.BytesSent), res.Seconds, mbps, res.Manifests, res.Retries)
}
