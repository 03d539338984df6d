package inspect

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/lipgloss/table"
	"github.com/muesli/termenv"
	"github.com/opencontainers/go-digest"
)

// RenderOptions configure Render.
type RenderOptions struct {
	// Color turns ANSI styling on; off, the output is plain text (the
	// golden tests' form). The caller decides from the terminal, NO_COLOR
	// and --no-color.
	Color bool
}

type styles struct {
	title, label, dig, faint, sel, hole, warn lipgloss.Style
}

func newStyles(w io.Writer, o RenderOptions) styles {
	r := lipgloss.NewRenderer(w)
	if o.Color {
		r.SetColorProfile(termenv.ANSI256)
	} else {
		r.SetColorProfile(termenv.Ascii)
	}
	return styles{
		title: r.NewStyle().Bold(true),
		label: r.NewStyle().Foreground(lipgloss.Color("8")),
		dig:   r.NewStyle().Foreground(lipgloss.Color("6")),
		faint: r.NewStyle().Faint(true),
		sel:   r.NewStyle().Bold(true).Foreground(lipgloss.Color("0")).Background(lipgloss.Color("10")),
		hole:  r.NewStyle().Foreground(lipgloss.Color("8")),
		warn:  r.NewStyle().Bold(true).Foreground(lipgloss.Color("9")),
	}
}

// Render writes rep for a terminal: the image, each manifest with its config
// and layers, referrers, and each 2DFS field as a grid (a selected cell is
// marked "*", a hole "·").
func Render(w io.Writer, rep *Report, o RenderOptions) error {
	st := newStyles(w, o)
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	row := func(indent, label, value string) {
		p("%s%s %s\n", indent, st.label.Render(fmt.Sprintf("%-12s", label)), value)
	}

	p("%s\n", st.title.Render(rep.Reference))
	where := rep.Source + " " + rep.Location
	if rep.Repository != "" {
		where += ", repository " + rep.Repository
	}
	row("  ", "source", where)
	row("  ", "digest", st.dig.Render(rep.Digest.String()))
	row("  ", "media type", rep.MediaType)
	row("  ", "size", HumanBytes(rep.Size))
	if isIndex := len(rep.Manifests) > 0 && rep.Manifests[0].Digest != rep.Digest; isIndex {
		var ps []string
		for _, m := range rep.Manifests {
			p := m.Platform
			if p == "" {
				p = "(" + m.Kind + ")"
			}
			ps = append(ps, p)
		}
		row("  ", "platforms", strings.Join(ps, ", "))
	}
	if rep.ArtifactType != "" {
		row("  ", "artifact", rep.ArtifactType)
	}
	if rep.TDFS {
		row("  ", "2DFS", "yes: the last layer of a manifest is a field of allotments")
	}
	annotations(row, "  ", rep.Annotations)
	if s := rep.Selection; s != nil {
		cells := make([]string, 0, len(s.Cells))
		for _, c := range s.Cells {
			cells = append(cells, fmt.Sprintf("(%d,%d)", c.Row, c.Col))
		}
		what := strings.Join(cells, " ")
		if what == "" {
			what = "no allotment: the base layers only"
		}
		row("  ", "selection", fmt.Sprintf("%s: %d cells, %s: %s", strings.Join(s.Rects, " + "), len(s.Cells), HumanBytes(s.Size), what))
		if s.Digest != "" {
			row("  ", "serves", st.dig.Render(s.Digest.String())+" "+s.MediaType)
		}
	}
	referrers(row, st, "  ", rep.Referrers)

	for _, m := range rep.Manifests {
		b.WriteString("\n")
		renderManifest(&b, st, row, &m)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func renderManifest(b *strings.Builder, st styles, row func(indent, label, value string), m *Manifest) {
	plat := m.Platform
	if plat == "" {
		plat = "(no platform)"
	}
	fmt.Fprintf(b, "%s  %s  %s  %s\n", st.title.Render(plat), st.dig.Render(m.Digest.String()), HumanBytes(m.Size), m.MediaType)
	if m.ArtifactType != "" {
		row("  ", "artifact", m.ArtifactType)
	}
	annotations(row, "  ", m.Annotations)
	if m.Kind != "image" {
		row("  ", "kind", m.Kind+": not an image manifest, not expanded")
		if m.Kind == "index" {
			referrers(row, st, "  ", m.Referrers)
		}
		return
	}
	if c := m.Config; c != nil {
		row("  ", "config", fmt.Sprintf("%s  %s  %s", st.dig.Render(c.Digest.String()), HumanBytes(c.Size), c.MediaType))
		if c.CID != "" {
			row("  ", "", "cid "+c.CID)
		}
		var facts []string
		if c.Platform != "" {
			facts = append(facts, c.Platform)
		}
		if c.Created != "" {
			facts = append(facts, "created "+c.Created)
		}
		if c.Author != "" {
			facts = append(facts, "author "+c.Author)
		}
		if c.Digest != "" && (c.MediaType == "application/vnd.oci.image.config.v1+json" || c.MediaType == "application/vnd.docker.container.image.v1+json") {
			facts = append(facts, fmt.Sprintf("%d diff_ids, %d history", c.DiffIDs, c.History))
		}
		if len(facts) > 0 {
			row("  ", "", strings.Join(facts, ", "))
		}
		for _, kv := range []struct{ k, v string }{
			{"entrypoint", quoteList(c.Entrypoint)}, {"cmd", quoteList(c.Cmd)},
			{"user", c.User}, {"workdir", c.WorkingDir},
		} {
			if kv.v != "" {
				row("  ", kv.k, kv.v)
			}
		}
		if len(c.Env) > 0 {
			row("  ", "env", strings.Join(c.Env, " "))
		}
		annotations(func(indent, _, v string) { row(indent, "label", v) }, "  ", c.Labels)
	}
	row("  ", "layers", fmt.Sprintf("%d, %s", len(m.Layers), HumanBytes(m.LayersSize)))
	for i, l := range m.Layers {
		mt := l.MediaType
		if l.Field {
			mt += "  (2DFS field)"
		}
		fmt.Fprintf(b, "    %2d  %s  %9s  %s\n", i+1, st.dig.Render(l.Digest.String()), HumanBytes(l.Size), mt)
		if l.CID != "" {
			fmt.Fprintf(b, "        cid %s\n", l.CID)
		}
	}
	if f := m.Field; f != nil {
		renderField(b, st, row, f)
	}
	referrers(row, st, "  ", m.Referrers)
}

func renderField(b *strings.Builder, st styles, row func(indent, label, value string), f *Field) {
	sum := fmt.Sprintf("%d x %d (rows x columns), %d allotments, %s, %d holes", f.Rows, f.Cols, f.Allotments, HumanBytes(f.AllotmentsSize), len(f.Holes))
	if f.SameAs != "" {
		row("  ", "field", sum+": the same field as "+f.SameAs)
		return
	}
	row("  ", "field", sum)
	cells := map[[2]int]*Cell{}
	for i := range f.Cells {
		cells[[2]int{f.Cells[i].Row, f.Cells[i].Col}] = &f.Cells[i]
	}
	headers := []string{""}
	for c := range f.Cols {
		headers = append(headers, "col "+strconv.Itoa(c))
	}
	t := table.New().Border(lipgloss.NormalBorder()).BorderRow(true).Headers(headers...)
	for r := range f.Rows {
		line := []string{"row " + strconv.Itoa(r)}
		for c := range f.Cols {
			line = append(line, cellText(st, cells[[2]int{r, c}]))
		}
		t.Row(line...)
	}
	t.StyleFunc(func(r, c int) lipgloss.Style { return lipgloss.NewStyle().Padding(0, 1) })
	for _, l := range strings.Split(t.Render(), "\n") {
		fmt.Fprintf(b, "    %s\n", l)
	}
	var missing, cids []string
	for _, c := range f.Cells {
		if c.Missing {
			missing = append(missing, fmt.Sprintf("(%d,%d) %s", c.Row, c.Col, c.Digest))
		}
		if c.CID != "" {
			cids = append(cids, fmt.Sprintf("(%d,%d) %s", c.Row, c.Col, c.CID))
		}
	}
	for _, m := range missing {
		row("  ", "missing", st.warn.Render(m))
	}
	for _, c := range cids {
		row("  ", "cid", c)
	}
}

// cellText is a cell of the grid: size and digest prefix, "*" when
// selected; a hole is "·".
func cellText(st styles, c *Cell) string {
	if c == nil {
		return st.hole.Render("·")
	}
	size := HumanBytes(c.Size)
	if c.Missing {
		size = "missing"
	}
	prefix := shortDigest(c.Digest)
	if c.Selected {
		return st.sel.Render("* "+size) + "\n" + st.sel.Render("  "+prefix)
	}
	return size + "\n" + st.faint.Render(prefix)
}

func shortDigest(d digest.Digest) string {
	e := d.Encoded()
	if len(e) > 12 {
		e = e[:12]
	}
	return e
}

func referrers(row func(indent, label, value string), st styles, indent string, rs []Descriptor) {
	if len(rs) == 0 {
		row(indent, "referrers", "none")
		return
	}
	for i, r := range rs {
		label := ""
		if i == 0 {
			label = "referrers"
		}
		what := r.ArtifactType
		if what == "" {
			what = r.MediaType
		}
		row(indent, label, fmt.Sprintf("%s  %s  %s", st.dig.Render(r.Digest.String()), HumanBytes(r.Size), what))
	}
}

func annotations(row func(indent, label, value string), indent string, a map[string]string) {
	for i, k := range slices.Sorted(maps.Keys(a)) {
		label := ""
		if i == 0 {
			label = "annotations"
		}
		row(indent, label, k+"="+a[k])
	}
}

func quoteList(s []string) string {
	if len(s) == 0 {
		return ""
	}
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = strconv.Quote(x)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// HumanBytes formats n bytes in binary units ("-" for a negative size).
func HumanBytes(n int64) string {
	if n < 0 {
		return "-"
	}
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	f := float64(n)
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		f /= 1024
		if f < 1024 {
			return fmt.Sprintf("%.1f %s", f, u)
		}
	}
	return fmt.Sprintf("%.1f PiB", f/1024)
}
