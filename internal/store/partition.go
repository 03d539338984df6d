package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/dfsreg/dfsreg/internal/flatten"
	"github.com/dfsreg/dfsreg/internal/oci"
	"github.com/dfsreg/dfsreg/internal/partition"
)

// 2DFS in the store: manifest PUT checks a field and its allotments, and a
// semantic reference (<tag>--r1.c1.r2.c2...) resolves to a partition that is
// computed once per (source digest, normalized selection), stored
// content-addressed and remembered in the partitions table. Partitions are
// derived data: an edge of kind refDerived ties each to its source.

// repoSource reads a repository's content for flatten.
type repoSource struct {
	s    *Store
	repo string
}

func (r repoSource) Manifest(ctx context.Context, d digest.Digest) (string, []byte, error) {
	m, err := r.s.GetManifest(ctx, r.repo, d.String())
	if err != nil {
		return "", nil, err
	}
	return m.MediaType, m.Body, nil
}

func (r repoSource) SmallBlob(ctx context.Context, d digest.Digest) ([]byte, error) {
	return r.s.ReadSmallBlob(ctx, r.repo, d)
}

func (r repoSource) BlobSize(ctx context.Context, d digest.Digest) (int64, error) {
	return r.s.StatBlob(ctx, r.repo, d)
}

// Field implements flatten.FieldSource: the parsed field, from the store's
// cache of parsed fields when it was read before (at manifest PUT, or by an
// earlier partition), after checking the repository holds the blob.
func (r repoSource) Field(ctx context.Context, d digest.Digest) (*partition.Field, error) {
	if _, err := r.s.StatBlob(ctx, r.repo, d); err != nil {
		return nil, err
	}
	if f := r.s.fields.get(d); f != nil {
		return f, nil
	}
	b, err := r.s.ReadSmallBlob(ctx, r.repo, d) // checks the digest
	if err != nil {
		return nil, err
	}
	f, err := partition.ParseField(b)
	if err != nil {
		return nil, err
	}
	r.s.fields.put(d, f, len(b))
	return f, nil
}

// BlobSizes implements flatten.SizeSource with one query for all digests.
// SQLite joins and concatenates the rows itself: one row crosses into Go,
// not one per allotment (4096 of them cost milliseconds each way).
func (r repoSource) BlobSizes(ctx context.Context, ds []digest.Digest) (map[digest.Digest]int64, error) {
	out := make(map[digest.Digest]int64, len(ds))
	id, err := r.s.lookupRepo(ctx, r.repo)
	if err != nil || id == 0 {
		return out, err
	}
	list, err := json.Marshal(ds)
	if err != nil {
		return nil, err
	}
	var all sql.NullString
	err = r.s.db.queryRow(ctx, `SELECT group_concat(r.digest || ' ' || b.size, ',') FROM json_each(?) j CROSS JOIN repo_blobs r CROSS JOIN blobs b WHERE r.repo = ? AND r.digest = j.value AND b.digest = r.digest`, string(list), id).Scan(&all)
	if err != nil {
		return nil, err
	}
	for _, pair := range strings.Split(all.String, ",") {
		d, n, ok := strings.Cut(pair, " ")
		if !ok {
			continue
		}
		size, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("blob sizes: %q: %w", pair, err)
		}
		out[digest.Digest(d)] = size
	}
	return out, nil
}

// Source returns a flatten.Source over repository repo.
func (s *Store) Source(repo string) flatten.Source { return repoSource{s, repo} }

// fieldAllotments returns the allotments a 2DFS image manifest needs, after
// checking its field: a field that does not parse is MANIFEST_INVALID, a
// field blob that is not in the repository MANIFEST_BLOB_UNKNOWN.
func (s *Store) fieldAllotments(ctx context.Context, repo string, m *oci.Manifest, body []byte) ([]Extra, error) {
	if m.IsIndex || !hasFieldLayer(m) {
		return nil, nil
	}
	desc, ok, err := flatten.FieldDescriptor(body)
	if err != nil {
		return nil, oci.Err(oci.CodeManifestInvalid, "2DFS field: %v", err)
	}
	if !ok {
		return nil, nil
	}
	all, _, err := flatten.FieldAllotments(ctx, s.Source(repo), body)
	switch {
	case oci.HasCode(err, oci.CodeBlobUnknown):
		return nil, oci.Err(oci.CodeManifestBlobUnknown, "2DFS field blob %s is not in the repository", desc.Digest).
			WithDetail([]missingEntry{{desc.Digest.String(), "2DFS field"}})
	case err != nil:
		return nil, oci.Err(oci.CodeManifestInvalid, "2DFS field %s: %v", desc.Digest, err)
	}
	extras := make([]Extra, 0, len(all))
	for _, a := range all {
		extras = append(extras, Extra{Digest: a.Digest, What: fmt.Sprintf("2DFS allotment (%d,%d)", a.Row, a.Col)})
	}
	return extras, nil
}

// Resolve returns the manifest a GET of ref answers with: a digest or a tag
// as stored, or, for a semantic reference that is not a literal tag, the
// partition of its base tag. A literal tag of the full name always wins.
func (s *Store) Resolve(ctx context.Context, repo, ref string) (*Manifest, error) {
	base, sel, ok, rectErr := partition.ParseRef(ref)
	if !ok {
		return s.GetManifest(ctx, repo, ref)
	}
	if err := checkName(repo); err != nil {
		return nil, err
	}
	return s.cachedLookup(ctx, repo, ref, func(id int64) (*Manifest, error) {
		return s.resolveSemantic(ctx, repo, id, ref, base, sel.Key(), sel, rectErr)
	})
}

func (s *Store) resolveSemantic(ctx context.Context, repo string, id int64, ref, base, key string, sel partition.Selection, rectErr error) (*Manifest, error) {
	// One query answers the common cases: the literal tag (0), the
	// remembered partition of the base tag's current manifest (1), or that
	// manifest itself, to partition now (2).
	var prio int
	var m Manifest
	var dg string
	var subject sql.NullString
	err := s.db.queryRow(ctx, `
SELECT 0, m.digest, m.media_type, m.body, m.subject FROM tags t JOIN manifests m ON m.repo = t.repo AND m.digest = t.digest WHERE t.repo = ?1 AND t.name = ?2
UNION ALL
SELECT 1, m.digest, m.media_type, m.body, m.subject FROM tags t JOIN partitions p ON p.repo = t.repo AND p.source = t.digest AND p.selection = ?4 JOIN manifests m ON m.repo = p.repo AND m.digest = p.result WHERE t.repo = ?1 AND t.name = ?3
UNION ALL
SELECT 2, m.digest, m.media_type, m.body, m.subject FROM tags t JOIN manifests m ON m.repo = t.repo AND m.digest = t.digest WHERE t.repo = ?1 AND t.name = ?3
ORDER BY 1 LIMIT 1`, id, ref, base, key).Scan(&prio, &dg, &m.MediaType, &m.Body, &subject)
	if errors.Is(err, sql.ErrNoRows) {
		if rectErr != nil {
			return nil, badSelection(ref, rectErr)
		}
		return nil, oci.Err(oci.CodeManifestUnknown, "manifest %q is not in repository %q, and neither is its base tag %q", truncate(ref, 150), repo, base)
	}
	if err != nil {
		return nil, err
	}
	m.Digest, m.Subject = digest.Digest(dg), digest.Digest(subject.String)
	switch {
	case prio == 0:
		return &m, nil
	case rectErr != nil:
		return nil, badSelection(ref, rectErr)
	case prio == 1:
		return &m, nil
	}
	return s.Partition(ctx, repo, &m, sel)
}

func badSelection(ref string, err error) error {
	return oci.Err(oci.CodeManifestInvalid, "invalid 2DFS selection in %q: %v", truncate(ref, 150), err).WithStatus(http.StatusBadRequest)
}

// Partition returns the partition of source (a 2DFS image of repository
// repo) for sel: remembered if it was computed before, else computed once
// (concurrent callers share the work), stored and remembered.
func (s *Store) Partition(ctx context.Context, repo string, source *Manifest, sel partition.Selection) (*Manifest, error) {
	key := sel.Key()
	flight := repo + "\x00" + source.Digest.String() + "\x00" + key
	v, err, _ := s.partitions.Do(flight, func() (any, error) {
		// Shared by every caller waiting on this flight: the first one
		// going away must not cancel the others' work.
		ctx := context.WithoutCancel(ctx)
		if m, err := s.lookupPartition(ctx, repo, source.Digest, key); m != nil || err != nil {
			return m, err
		}
		res, err := flatten.Flatten(ctx, s.Source(repo), source.MediaType, source.Body, sel)
		if err != nil {
			return nil, partitionErr(repo, source.Digest, err)
		}
		if err := s.savePartition(ctx, repo, source.Digest, key, res); err != nil {
			return nil, err
		}
		return &Manifest{Digest: res.Top.Digest, MediaType: res.Top.MediaType, Body: res.Top.Data}, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*Manifest), nil
}

func partitionErr(repo string, src digest.Digest, err error) error {
	var ae *flatten.AllotmentError
	switch {
	case errors.Is(err, flatten.ErrNotTDFS):
		return oci.Err(oci.CodeManifestUnknown, "%s in %q is not a 2DFS image: it has no partitions", src, repo)
	case errors.As(err, &ae) && oci.HasCode(ae.Err, oci.CodeBlobUnknown):
		// The image names an allotment the repository lost (a blob
		// DELETE after the push): this partition cannot be served.
		return oci.Err(oci.CodeManifestUnknown, "cannot partition %s in %q: %v", src, repo, err)
	}
	var oe *oci.Error
	if errors.As(err, &oe) {
		return err
	}
	return fmt.Errorf("partitioning %s in %q: %w", src, repo, err)
}

func (s *Store) lookupPartition(ctx context.Context, repo string, src digest.Digest, key string) (*Manifest, error) {
	id, err := s.lookupRepo(ctx, repo)
	if err != nil || id == 0 {
		return nil, err
	}
	var m Manifest
	var dg string
	err = s.db.queryRow(ctx, `SELECT m.digest, m.media_type, m.body FROM partitions p JOIN manifests m ON m.repo = p.repo AND m.digest = p.result WHERE p.repo = ? AND p.source = ? AND p.selection = ?`,
		id, src.String(), key).Scan(&dg, &m.MediaType, &m.Body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	m.Digest = digest.Digest(dg)
	return &m, nil
}

// savePartition stores a flatten result: configs as blobs (bytes first,
// durable), then in one transaction the manifests, their edges, the
// partitions row and the edge from the source.
func (s *Store) savePartition(ctx context.Context, repo string, src digest.Digest, key string, res *flatten.Result) error {
	// Read before putBytes, which may keep bytes already in the backend
	// that a concurrent gc deletes before the link (see verifyCommitted).
	epoch, err := s.gcEpoch(ctx)
	if err != nil {
		return err
	}
	for _, c := range res.Configs {
		if _, err := s.StatBlob(ctx, repo, c.Digest); err == nil {
			continue
		}
		if err := s.putBytes(ctx, c.Digest, c.Data); err != nil {
			return fmt.Errorf("storing generated config %s: %w", c.Digest, err)
		}
	}
	manifests := append(append([]flatten.Blob{}, res.Manifests...), res.Top)
	return s.db.update(ctx, func(tx *tx) error {
		id, err := s.ensureRepo(tx, repo)
		if err != nil {
			return err
		}
		// The source may have been collected since flatten read it: then
		// the partition would name blobs gc is taking away.
		var one int
		if err := tx.QueryRow(`SELECT 1 FROM manifests WHERE repo = ? AND digest = ?`, id, src.String()).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return oci.Err(oci.CodeManifestUnknown, "manifest %s left repository %q while it was being partitioned", src, repo)
		} else if err != nil {
			return err
		}
		for _, c := range res.Configs {
			if err := s.verifyCommitted(ctx, tx, c.Digest, epoch); err != nil {
				return err
			}
			if err := s.linkBlob(tx, repo, c.Digest, int64(len(c.Data))); err != nil {
				return err
			}
		}
		now := unixNow()
		for _, b := range manifests {
			if _, err := tx.Exec(`INSERT INTO manifests (repo, digest, media_type, size, body, created) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
				id, b.Digest.String(), b.MediaType, len(b.Data), b.Data, now); err != nil {
				return err
			}
		}
		// A partition lives and dies with its source (the refDerived edge
		// below), whose own edges hold its base layers and allotments.
		// Only what the partition adds needs edges, and they hang from
		// its top object: the generated configs and child manifests.
		configs := make([]digest.Digest, len(res.Configs))
		for i, c := range res.Configs {
			configs[i] = c.Digest
		}
		if err := addEdges(tx, id, res.Top.Digest, refBlob, configs); err != nil {
			return err
		}
		children := make([]digest.Digest, len(res.Manifests))
		for i, c := range res.Manifests {
			children[i] = c.Digest
		}
		if err := addEdges(tx, id, res.Top.Digest, refManifest, children); err != nil {
			return err
		}
		if err := addEdges(tx, id, src, refDerived, []digest.Digest{res.Top.Digest}); err != nil {
			return err
		}
		_, err = tx.Exec(`INSERT INTO partitions (repo, source, selection, result, created) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			id, src.String(), key, res.Top.Digest.String(), now)
		return err
	})
}

// edges are a manifest's edges of one kind.
type edges struct {
	kind     int
	children []digest.Digest
}

// addEdges records edges of one kind from parent to children.
func addEdges(tx *tx, repo int64, parent digest.Digest, kind int, children []digest.Digest) error {
	return addEdgeList(tx, repo, parent, edges{kind, children})
}

// addEdgeList records edges from parent, in one statement however many
// there are.
func addEdgeList(tx *tx, repo int64, parent digest.Digest, kinds ...edges) error {
	list := make([]byte, 0, 128)
	list = append(list, '[')
	n := 0
	for _, k := range kinds {
		for _, c := range k.children {
			if n > 0 {
				list = append(list, ',')
			}
			list = strconv.AppendInt(append(list, '['), int64(k.kind), 10)
			list = strconv.AppendQuote(append(list, ','), c.String()) // digests are plain ASCII
			list = append(list, ']')
			n++
		}
	}
	if n == 0 {
		return nil
	}
	list = append(list, ']')
	_, err := tx.Exec(`INSERT INTO refs (repo, parent, kind, child) SELECT ?, ?, j.value ->> 0, j.value ->> 1 FROM json_each(?) j WHERE true ON CONFLICT DO NOTHING`,
		repo, parent.String(), string(list))
	return err
}

// putBytes makes small generated content durable in the backend under d.
func (s *Store) putBytes(ctx context.Context, d digest.Digest, data []byte) error {
	st, err := s.backend.Stage(ctx, "", 0)
	if err != nil {
		return err
	}
	if _, err := st.Write(data); err != nil {
		st.Abort(ctx)
		return err
	}
	if err := st.Commit(ctx, d, true); err != nil {
		st.Abort(ctx)
		return err
	}
	return nil
}

// hasFieldLayer reports whether a parsed manifest has a 2DFS field layer, so
// that plain images are not parsed a second time.
func hasFieldLayer(m *oci.Manifest) bool {
	for _, l := range m.Layers {
		if l.MediaType == partition.FieldMediaType {
			return true
		}
	}
	return false
}
