// Package gc is dfsreg's garbage collector: the policy (roots, grace
// period, phases, report) over the store's primitives (internal/store,
// gc.go, which also argues why each phase is safe while serve runs and when
// gc is killed halfway).
//
// Roots are tags; with Untagged, also untagged manifests younger than
// Retention; without it, every manifest except referrers and derived
// partitions (so only what no manifest references is collected, and
// partitions whose source is gone). Edges: index -> children, manifest ->
// config and layers, 2DFS field -> allotments, source -> derived
// partitions, subject -> referrers (a referrer lives while its subject
// lives). Nothing younger than Grace is collected.
package gc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/dfsreg/dfsreg/internal/store"
)

// Options configure a collection.
type Options struct {
	// Grace: manifests created, and blob links touched (uploaded,
	// mounted), less than Grace ago are kept, reachable or not.
	Grace time.Duration
	// Untagged also collects untagged manifests created more than
	// Retention ago, unless they are children of live indexes, live
	// referrers or partitions of live images.
	Untagged  bool
	Retention time.Duration
	// DryRun reports what would be collected and changes nothing.
	DryRun bool
	// Repos limits the collection to these repositories (all when empty).
	// Blob bytes are then only collected when the last link to them was
	// removed by this run; blobs no repository links from before are left
	// for an unscoped run.
	Repos []string
	// UploadExpiry: upload sessions idle for longer are ended and their
	// staged bytes discarded; 0 leaves them alone.
	UploadExpiry time.Duration
	// List puts the digests of what is collected in the report, besides
	// the counts.
	List bool
	// Logger receives progress at debug level and problems at warn level;
	// nil discards them.
	Logger *slog.Logger
}

// Report is what a collection did, or with DryRun would do.
type Report struct {
	DryRun    bool          `json:"dry_run"`
	Started   time.Time     `json:"started"`
	Grace     time.Duration `json:"-"`
	Untagged  bool          `json:"untagged"`
	Retention time.Duration `json:"-"`
	// Repos has one entry per repository collected from (those with
	// nothing to collect included), in name order.
	Repos []RepoReport `json:"repositories"`
	// Unlinked: blobs that no repository linked before this run (deleted
	// through the API, or left by an interrupted run) whose bytes it
	// collected.
	Unlinked Count `json:"unlinked_blobs"`
	// Finished: byte deletions an interrupted earlier run left pending,
	// completed by this one.
	Finished Count `json:"finished_pending"`
	// Relinked: blobs retired by gc that were uploaded again before their
	// bytes went: they stay.
	Relinked int `json:"relinked"`
	// Failed: byte deletions the backend refused; they stay pending and the
	// next run retries them.
	Failed         []string `json:"failed,omitempty"`
	UploadsExpired int      `json:"uploads_expired"`
	// Totals over every repository; Totals.Blobs/BlobBytes include
	// Unlinked and Finished: every blob whose bytes went.
	Totals    RepoReport `json:"totals"`
	Durations Durations  `json:"durations"`
}

// Count is a number of objects and their bytes.
type Count struct {
	Count int   `json:"count"`
	Bytes int64 `json:"bytes"`
	// Digests, with Options.List.
	Digests []string `json:"digests,omitempty"`
}

// RepoReport is a repository's part of a collection.
type RepoReport struct {
	Name string `json:"name,omitempty"`
	// Manifests deleted (untagged and unreachable, or derived from or
	// referring to a deleted manifest), and their size.
	Manifests     int   `json:"manifests"`
	ManifestBytes int64 `json:"manifest_bytes"`
	// Partitions: remembered 2DFS partitions dropped with their source.
	Partitions int `json:"partitions"`
	// Links: blobs removed from the repository (no manifest of it names
	// them), with the blobs' sizes.
	Links     int   `json:"links"`
	LinkBytes int64 `json:"link_bytes"`
	// Blobs whose bytes were deleted because this repository held their
	// last link, and those bytes.
	Blobs     int   `json:"blobs"`
	BlobBytes int64 `json:"blob_bytes"`
	// Deleted lists the digests, with Options.List.
	Deleted *Deleted `json:"deleted,omitempty"`
}

// Deleted lists what a collection removed from a repository.
type Deleted struct {
	Manifests []string `json:"manifests"`
	Links     []string `json:"links"`
	Blobs     []string `json:"blobs"`
}

// Empty reports whether nothing was collected from the repository.
func (r RepoReport) Empty() bool {
	return r.Manifests == 0 && r.Partitions == 0 && r.Links == 0 && r.Blobs == 0
}

// Durations of the phases.
type Durations struct {
	Manifests time.Duration
	Links     time.Duration
	Blobs     time.Duration
	Uploads   time.Duration
	Total     time.Duration
}

// MarshalJSON writes durations as Go duration strings ("1.5s").
func (d Durations) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"manifests": d.Manifests.String(), "links": d.Links.String(), "blobs": d.Blobs.String(),
		"uploads": d.Uploads.String(), "total": d.Total.String(),
	})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (d *Durations) UnmarshalJSON(b []byte) error {
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	for k, p := range map[string]*time.Duration{"manifests": &d.Manifests, "links": &d.Links, "blobs": &d.Blobs, "uploads": &d.Uploads, "total": &d.Total} {
		if m[k] == "" {
			continue
		}
		v, err := time.ParseDuration(m[k])
		if err != nil {
			return fmt.Errorf("durations.%s: %w", k, err)
		}
		*p = v
	}
	return nil
}

// MarshalJSON adds the options as strings.
func (r *Report) MarshalJSON() ([]byte, error) {
	type plain Report
	return json.Marshal(struct {
		*plain
		Grace     string `json:"grace"`
		Retention string `json:"retention,omitempty"`
	}{(*plain)(r), r.Grace.String(), retention(r)})
}

func retention(r *Report) string {
	if !r.Untagged {
		return ""
	}
	return r.Retention.String()
}

// Run collects garbage in st. It returns the report even when it fails
// partway (what was done until then); a failed repository does not stop
// the others.
func Run(ctx context.Context, st *store.Store, o Options) (*Report, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Grace < 0 || o.Retention < 0 || o.UploadExpiry < 0 {
		return nil, errors.New("gc: grace, retention and upload expiry cannot be negative")
	}
	start := time.Now()
	rep := &Report{DryRun: o.DryRun, Started: start, Grace: o.Grace, Untagged: o.Untagged, Retention: o.Retention, Repos: []RepoReport{}}
	defer func() { rep.Durations.Total = time.Since(start) }()
	repos, err := st.GCRepos(ctx, o.Repos)
	if err != nil {
		return rep, err
	}
	scoped := len(o.Repos) > 0
	cutoff := start.Add(-o.Grace)
	mark := store.GCMark{Fresh: cutoff, Untagged: o.Untagged, Retain: start.Add(-o.Retention)}
	var errs []error

	// 1 and 2, per repository: manifests, then blob links.
	byName := map[string]*RepoReport{}
	rep.Repos = make([]RepoReport, len(repos))
	doomed := make([][]store.Doomed, len(repos))
	ok := make([]bool, len(repos))
	t := time.Now()
	for i, r := range repos {
		rr := &rep.Repos[i]
		rr.Name = r.Name
		byName[r.Name] = rr
		if o.List {
			rr.Deleted = &Deleted{Manifests: []string{}, Links: []string{}, Blobs: []string{}}
		}
		ms, err := st.SweepManifests(ctx, r, mark, o.DryRun)
		if err != nil {
			errs = append(errs, err)
			log.Warn("gc: manifests", "repo", r.Name, "err", err)
			continue
		}
		ok[i] = true
		doomed[i] = ms.Manifests
		rr.Manifests, rr.Partitions = len(ms.Manifests), ms.Partitions
		for _, m := range ms.Manifests {
			rr.ManifestBytes += m.Size
			if o.List {
				rr.Deleted.Manifests = append(rr.Deleted.Manifests, m.Digest.String())
			}
		}
		if len(ms.Manifests) > 0 || ms.Partitions > 0 {
			log.Debug("gc: manifests", "repo", r.Name, "manifests", len(ms.Manifests), "partitions", ms.Partitions, "edges", ms.Edges)
		}
	}
	rep.Durations.Manifests = time.Since(t)

	t = time.Now()
	unlinked := map[digest.Digest]map[int64]bool{} // digest -> repositories that lost it
	lostBy := map[digest.Digest]string{}           // digest -> a repository that lost it
	for i, r := range repos {
		if !ok[i] {
			continue // its manifests were not swept: their refs still count, but stay safe
		}
		links, err := st.SweepLinks(ctx, r, cutoff, doomed[i], o.DryRun)
		rr := &rep.Repos[i]
		for _, l := range links {
			rr.Links++
			rr.LinkBytes += l.Size
			if o.List {
				rr.Deleted.Links = append(rr.Deleted.Links, l.Digest.String())
			}
			if unlinked[l.Digest] == nil {
				unlinked[l.Digest] = map[int64]bool{}
				lostBy[l.Digest] = r.Name
			}
			unlinked[l.Digest][r.ID] = true
		}
		if err != nil {
			errs = append(errs, err)
			log.Warn("gc: blob links", "repo", r.Name, "err", err)
		} else if len(links) > 0 {
			log.Debug("gc: blob links", "repo", r.Name, "links", len(links))
		}
	}
	rep.Durations.Links = time.Since(t)

	// 3: blob bytes.
	t = time.Now()
	if err := sweepBlobs(ctx, st, o, scoped, cutoff, unlinked, lostBy, byName, rep, log); err != nil {
		errs = append(errs, err)
	}
	rep.Durations.Blobs = time.Since(t)

	// 4: upload sessions.
	t = time.Now()
	if o.UploadExpiry > 0 {
		var n int
		var err error
		if o.DryRun {
			n, err = st.IdleUploads(ctx, o.UploadExpiry)
		} else {
			n, err = st.ExpireUploads(ctx, o.UploadExpiry)
		}
		rep.UploadsExpired = n
		if err != nil {
			errs = append(errs, fmt.Errorf("expiring upload sessions: %w", err))
		}
	}
	rep.Durations.Uploads = time.Since(t)

	rep.Totals = total(rep)
	return rep, errors.Join(errs...)
}

func sweepBlobs(ctx context.Context, st *store.Store, o Options, scoped bool, cutoff time.Time,
	unlinked map[digest.Digest]map[int64]bool, lostBy map[digest.Digest]string,
	byName map[string]*RepoReport, rep *Report, log *slog.Logger) error {
	attribute := func(d store.Doomed) {
		if name, ok := lostBy[d.Digest]; ok {
			rr := byName[name]
			rr.Blobs++
			rr.BlobBytes += d.Size
			if o.List {
				rr.Deleted.Blobs = append(rr.Deleted.Blobs, d.Digest.String())
			}
			return
		}
		rep.Unlinked.add(d, o.List)
	}
	if o.DryRun {
		would, err := st.WouldRetire(ctx, cutoff, unlinked, !scoped)
		if err != nil {
			return fmt.Errorf("blobs: %w", err)
		}
		for _, d := range would {
			attribute(d)
		}
		pending, err := st.PendingBlobs(ctx)
		if err != nil {
			return fmt.Errorf("blobs: %w", err)
		}
		for _, p := range pending {
			rep.Finished.add(p, o.List)
		}
		return nil
	}
	var only []digest.Digest
	if scoped {
		only = make([]digest.Digest, 0, len(unlinked))
		for d := range unlinked {
			only = append(only, d)
		}
		sort.Slice(only, func(i, j int) bool { return only[i] < only[j] })
	}
	retired, rerr := st.RetireBlobs(ctx, cutoff, only)
	mine := make(map[digest.Digest]bool, len(retired))
	for _, d := range retired {
		mine[d.Digest] = true
	}
	// Pending deletions are finished even when retiring failed: they are
	// recorded, and finishing them is always right.
	res, derr := st.DeletePending(ctx)
	if res != nil {
		for _, d := range res.Deleted {
			if mine[d.Digest] {
				attribute(d)
			} else {
				rep.Finished.add(d, o.List)
			}
		}
		rep.Relinked = len(res.Relinked)
		for _, f := range res.Failed {
			rep.Failed = append(rep.Failed, fmt.Sprintf("%s: %v", f.Digest, f.Err))
			log.Warn("gc: deleting blob bytes", "digest", f.Digest, "err", f.Err)
		}
	}
	return errors.Join(rerr, derr)
}

func (c *Count) add(d store.Doomed, list bool) {
	c.Count++
	c.Bytes += d.Size
	if list {
		c.Digests = append(c.Digests, d.Digest.String())
	}
}

func total(rep *Report) RepoReport {
	var t RepoReport
	for _, r := range rep.Repos {
		t.Manifests += r.Manifests
		t.ManifestBytes += r.ManifestBytes
		t.Partitions += r.Partitions
		t.Links += r.Links
		t.LinkBytes += r.LinkBytes
		t.Blobs += r.Blobs
		t.BlobBytes += r.BlobBytes
	}
	t.Blobs += rep.Unlinked.Count + rep.Finished.Count
	t.BlobBytes += rep.Unlinked.Bytes + rep.Finished.Bytes
	return t
}
