package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/lipgloss/table"
	"github.com/muesli/termenv"
	"github.com/spf13/cobra"

	"github.com/dfsreg/dfsreg/internal/config"
	"github.com/dfsreg/dfsreg/internal/gc"
	"github.com/dfsreg/dfsreg/internal/inspect"
	"github.com/dfsreg/dfsreg/internal/store"
)

func newGCCmd() *cobra.Command {
	var (
		cf       *configFlags
		dryRun   bool
		untagged bool
		grace    time.Duration
		retain   time.Duration
		repos    []string
		asJSON   bool
		list     bool
	)
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Collect garbage: unreferenced blobs, untagged manifests, stale uploads",
		Long: `Collect garbage in the store, safely while "dfsreg serve" runs on it.

Roots are tags (and, without --untagged, every manifest except referrers
and 2DFS partitions, which live with their subject or source). Whatever no
root reaches - through index children, configs and layers, 2DFS field
allotments, referrers and partitions - and is older than the grace period
goes: manifests, blob links, then blob bytes once nothing links them.
2DFS partitions go with their source, however young. Upload sessions idle
past uploads.expiry are ended.

gc.grace, gc.untagged and gc.retention of the configuration are the
defaults of the flags. A gc killed halfway is finished by the next run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.load()
			if err != nil {
				return err
			}
			fs := cmd.Flags()
			if fs.Changed("grace") {
				c.GC.Grace = grace
			}
			if fs.Changed("untagged") {
				c.GC.Untagged = untagged
			}
			if fs.Changed("retention") {
				c.GC.Retention = retain
			}
			if c.GC.Grace < 0 || c.GC.Retention < 0 {
				return fmt.Errorf("--grace and --retention cannot be negative")
			}
			if _, err := os.Stat(filepath.Join(c.Root, store.DBFile)); err != nil {
				return fmt.Errorf("no dfsreg store at %s (--root): %w", c.Root, err)
			}
			ctx := cmd.Context()
			st, err := openStore(ctx, c)
			if err != nil {
				return err
			}
			defer st.Close()
			opts := gcOptions(c)
			opts.DryRun, opts.Repos, opts.List = dryRun, repos, list
			opts.Logger = newLogger(cmd.ErrOrStderr(), c)
			rep, runErr := gc.Run(ctx, st, opts)
			if rep != nil {
				if asJSON {
					enc := json.NewEncoder(cmd.OutOrStdout())
					enc.SetIndent("", "  ")
					if err := enc.Encode(rep); err != nil {
						return err
					}
				} else {
					renderGCReport(cmd.OutOrStdout(), rep)
				}
			}
			return runErr
		},
	}
	cf = addConfigFlags(cmd, "root", "log.level", "log.format")
	def := config.Defaults().GC
	f := cmd.Flags()
	f.BoolVar(&dryRun, "dry-run", false, "report what would be collected, change nothing")
	f.BoolVar(&untagged, "untagged", def.Untagged, "also collect untagged manifests older than --retention (gc.untagged)")
	f.DurationVar(&grace, "grace", def.Grace, "keep anything created or touched less than this ago (gc.grace)")
	f.DurationVar(&retain, "retention", def.Retention, "with --untagged, keep untagged manifests younger than this (gc.retention)")
	f.StringArrayVar(&repos, "repo", nil, "collect in this repository only (repeatable)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.BoolVar(&list, "list", false, "list the digests of what is collected")
	return cmd
}

// gcOptions are the collection options of configuration c (serve's
// scheduled collection uses them as they are).
func gcOptions(c *config.Config) gc.Options {
	return gc.Options{Grace: c.GC.Grace, Untagged: c.GC.Untagged, Retention: c.GC.Retention, UploadExpiry: c.Uploads.Expiry}
}

// renderGCReport writes the report as a table, colored on a terminal unless
// NO_COLOR is set.
func renderGCReport(w io.Writer, r *gc.Report) {
	re := lipgloss.NewRenderer(w)
	if !useColor(w, false) {
		re.SetColorProfile(termenv.Ascii)
	}
	bold := re.NewStyle().Bold(true)
	dim := re.NewStyle().Faint(true)
	verb := "collected"
	if r.DryRun {
		verb = "would collect"
	}
	mode := "untagged manifests kept"
	if r.Untagged {
		mode = "untagged manifests older than " + r.Retention.String() + " collected"
	}
	title := fmt.Sprintf("dfsreg gc%s: %s %s (grace %s; %s)", map[bool]string{true: " (dry run)"}[r.DryRun], verb,
		inspect.HumanBytes(r.Totals.BlobBytes), r.Grace, mode)
	fmt.Fprintln(w, bold.Render(title))

	rows := [][]string{}
	quiet := 0
	for _, rr := range r.Repos {
		if rr.Empty() {
			quiet++
			continue
		}
		rows = append(rows, gcRow(rr.Name, rr))
	}
	if r.Unlinked.Count > 0 {
		rows = append(rows, gcRow("(no repository)", gc.RepoReport{Blobs: r.Unlinked.Count, BlobBytes: r.Unlinked.Bytes}))
	}
	if r.Finished.Count > 0 {
		rows = append(rows, gcRow("(left by an interrupted run)", gc.RepoReport{Blobs: r.Finished.Count, BlobBytes: r.Finished.Bytes}))
	}
	rows = append(rows, gcRow("total", r.Totals))
	last := len(rows) - 1
	header := re.NewStyle().Bold(true).Padding(0, 1).Foreground(lipgloss.Color("12"))
	cell := re.NewStyle().Padding(0, 1)
	t := table.New().
		Border(lipgloss.RoundedBorder()).
		BorderStyle(re.NewStyle().Foreground(lipgloss.Color("8"))).
		Headers("REPOSITORY", "MANIFESTS", "PARTITIONS", "BLOB LINKS", "BLOBS", "BYTES FREED").
		Rows(rows...).
		StyleFunc(func(row, col int) lipgloss.Style {
			s := cell
			switch {
			case row == table.HeaderRow:
				s = header
			case row == last:
				s = cell.Bold(true)
			}
			if col > 0 {
				s = s.Align(lipgloss.Right)
			}
			return s
		})
	t = t.Width(0)
	fmt.Fprintln(w, re.NewStyle().Render(t.Render()))
	if quiet > 0 {
		fmt.Fprintln(w, dim.Render(fmt.Sprintf("%d repositories with nothing to collect", quiet)))
	}
	if r.UploadsExpired > 0 {
		fmt.Fprintf(w, "upload sessions %s: %d\n", map[bool]string{true: "that would expire", false: "expired"}[r.DryRun], r.UploadsExpired)
	}
	if r.Relinked > 0 {
		fmt.Fprintf(w, "blobs uploaded again while being collected (kept): %d\n", r.Relinked)
	}
	if len(r.Failed) > 0 {
		warn := re.NewStyle().Foreground(lipgloss.Color("9"))
		fmt.Fprintln(w, warn.Render(fmt.Sprintf("%d blob deletions failed (the next run retries them):", len(r.Failed))))
		for _, f := range r.Failed {
			fmt.Fprintln(w, "  "+f)
		}
	}
	for _, rr := range r.Repos {
		if rr.Deleted == nil {
			continue
		}
		for _, l := range []struct {
			what string
			list []string
		}{{"manifest", rr.Deleted.Manifests}, {"blob link", rr.Deleted.Links}, {"blob", rr.Deleted.Blobs}} {
			for _, d := range l.list {
				fmt.Fprintf(w, "%s  %s %s\n", rr.Name, l.what, d)
			}
		}
	}
	for _, d := range r.Unlinked.Digests {
		fmt.Fprintf(w, "(no repository)  blob %s\n", d)
	}
	for _, d := range r.Finished.Digests {
		fmt.Fprintf(w, "(left by an interrupted run)  blob %s\n", d)
	}
	d := r.Durations
	fmt.Fprintln(w, dim.Render(fmt.Sprintf("took %s (manifests %s, links %s, blobs %s, uploads %s)",
		round(d.Total), round(d.Manifests), round(d.Links), round(d.Blobs), round(d.Uploads))))
}

func gcRow(name string, r gc.RepoReport) []string {
	return []string{
		name,
		countBytes(r.Manifests, r.ManifestBytes),
		strconv.Itoa(r.Partitions),
		countBytes(r.Links, r.LinkBytes),
		strconv.Itoa(r.Blobs),
		inspect.HumanBytes(r.BlobBytes),
	}
}

func countBytes(n int, b int64) string {
	if n == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%s)", n, inspect.HumanBytes(b))
}

func round(d time.Duration) time.Duration {
	switch {
	case d > time.Second:
		return d.Round(10 * time.Millisecond)
	case d > time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d
}
