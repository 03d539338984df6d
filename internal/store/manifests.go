package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/oci"
)

// Extra is a blob a manifest needs beyond its descriptors.
type Extra struct {
	Digest digest.Digest
	// What names it for error messages, e.g. "2DFS allotment (1,2)".
	What string
}

// Manifest is a stored manifest or index. Values may be shared with the
// store's cache: read them, never modify them.
type Manifest struct {
	Digest    digest.Digest
	MediaType string
	Body      []byte
	// Subject is the digest of the manifest's subject, if it has one.
	Subject digest.Digest
}

// MaxSmallBlob caps what ReadSmallBlob reads into memory (field JSON,
// configs): the same bound as a manifest.
const MaxSmallBlob = oci.MaxManifestSize

// ReadSmallBlob reads a small blob of repository repo whole.
func (s *Store) ReadSmallBlob(ctx context.Context, repo string, d digest.Digest) ([]byte, error) {
	size, err := s.StatBlob(ctx, repo, d)
	if err != nil {
		return nil, err
	}
	if size > MaxSmallBlob {
		return nil, fmt.Errorf("blob %s has %d bytes, more than the %d this operation reads", d, size, MaxSmallBlob)
	}
	rc, err := s.OpenBlob(ctx, repo, d, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, MaxSmallBlob+1))
	if err != nil {
		return nil, err
	}
	if digest.FromBytes(b) != d {
		return nil, fmt.Errorf("blob %s: stored bytes do not match the digest", d)
	}
	return b, nil
}

func manifestUnknown(repo, ref string) error {
	return oci.Err(oci.CodeManifestUnknown, "manifest %q is not in repository %q", truncate(ref, 150), repo)
}

// manifestRef is a parsed manifest reference: a digest or a tag.
type manifestRef struct {
	digest digest.Digest
	tag    string
}

func parseRef(ref string) (manifestRef, error) {
	if oci.LooksLikeDigest(ref) {
		d, err := oci.ParseDigest(ref)
		return manifestRef{digest: d}, err
	}
	if !oci.ValidTag(ref) {
		return manifestRef{}, oci.Err(oci.CodeManifestInvalid, "invalid tag %q", truncate(ref, 150))
	}
	return manifestRef{tag: ref}, nil
}

// PutResult is what PutManifest stored.
type PutResult struct {
	Digest   digest.Digest
	Manifest *oci.Manifest
	Tag      string
}

// PutManifest validates and stores a manifest under ref (a tag or its
// digest). Everything it references must be in the repository: blobs
// (config, layers, 2DFS allotments) and child manifests. A ref of 64 bare hex
// equal to the body's sha256 stores by digest without creating a tag (how
// 2DFS builders push index children).
func (s *Store) PutManifest(ctx context.Context, repo, ref, contentType string, body []byte) (*PutResult, error) {
	if err := checkName(repo); err != nil {
		return nil, err
	}
	s.lookupRepo(ctx, repo) // warms the id cache: the write then needs no repos lookup
	if len(body) > oci.MaxManifestSize {
		return nil, oci.Err(oci.CodeSizeInvalid, "manifest is larger than %d bytes", oci.MaxManifestSize).WithStatus(http.StatusRequestEntityTooLarge)
	}
	m, err := oci.ParseManifest(contentType, body)
	if err != nil {
		return nil, err
	}
	d := digest.FromBytes(body)
	res := &PutResult{Digest: d, Manifest: m}
	if ref != d.Encoded() { // bare hex of this very body: by digest, no tag
		r, err := parseRef(ref)
		if err != nil {
			return nil, err
		}
		if r.digest != "" && r.digest != d {
			return nil, oci.Err(oci.CodeDigestInvalid, "manifest has digest %s, not %s", d, r.digest).WithDetail(map[string]string{"digest": r.digest.String()})
		}
		res.Tag = r.tag
	}
	extras, err := s.fieldAllotments(ctx, repo, m, body)
	if err != nil {
		return nil, err
	}
	var annotations []byte
	if len(m.Annotations) > 0 {
		annotations, _ = json.Marshal(m.Annotations)
	}
	var subject any
	if m.Subject != nil {
		subject = m.Subject.Digest.String()
	}
	var repoID int64
	defer func() { s.changed(repoID) }()
	err = s.db.update(ctx, func(tx *tx) error {
		id, err := s.ensureRepo(tx, repo)
		if err != nil {
			return err
		}
		repoID = id
		s.changed(id)
		if err := checkReferences(tx, id, m, extras); err != nil {
			return err
		}
		now := unixNow()
		if _, err := tx.Exec(`INSERT INTO manifests (repo, digest, media_type, artifact_type, subject, annotations, size, body, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			id, d.String(), m.MediaType, m.ArtifactType, subject, annotations, len(body), body, now); err != nil {
			return err
		}
		ext := make([]digest.Digest, 0, len(extras))
		for _, e := range extras {
			ext = append(ext, e.Digest)
		}
		if err := addEdgeList(tx, id, d, edges{refBlob, digestsOf(m.Blobs())}, edges{refManifest, digestsOf(m.Manifests)}, edges{refAllotment, ext}); err != nil {
			return err
		}
		if res.Tag != "" {
			_, err = tx.Exec(`INSERT INTO tags (repo, name, digest, updated) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET digest = excluded.digest, updated = excluded.updated`, id, res.Tag, d.String(), now)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func digestsOf(ds []v1.Descriptor) []digest.Digest {
	out := make([]digest.Digest, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.Digest)
	}
	return out
}

// missingEntry is one entry of a MANIFEST_BLOB_UNKNOWN error's detail.
type missingEntry struct {
	Digest string `json:"digest"`
	What   string `json:"what"`
}

func checkReferences(tx *tx, repo int64, m *oci.Manifest, extras []Extra) error {
	var missing []missingEntry
	blobs := m.Blobs()
	want := make([]digest.Digest, 0, len(blobs)+len(extras))
	for _, b := range blobs {
		want = append(want, b.Digest)
	}
	for _, e := range extras {
		want = append(want, e.Digest)
	}
	what := func(i int) string {
		switch {
		case i >= len(blobs):
			return extras[i-len(blobs)].What
		case i == 0 && m.Config != nil:
			return "config"
		}
		return "layer"
	}
	// One query for every blob, one for every child manifest: sizes in the
	// order asked, -1 where the repository does not have it.
	sizes, err := sizesOf(tx, `SELECT j.key, coalesce(b.size, -1) FROM json_each(?) j LEFT JOIN repo_blobs r ON r.repo = ? AND r.digest = j.value LEFT JOIN blobs b ON b.digest = r.digest`, repo, want)
	if err != nil {
		return err
	}
	for i, have := range sizes {
		var size int64 = -1
		if i < len(blobs) {
			size = blobs[i].Size
		}
		switch {
		case have < 0:
			missing = append(missing, missingEntry{want[i].String(), what(i)})
		case size >= 0 && have != size:
			return oci.Err(oci.CodeManifestInvalid, "%s %s has %d bytes, the manifest says %d", what(i), want[i], have, size)
		}
	}
	sizes, err = sizesOf(tx, `SELECT j.key, coalesce(m.size, -1) FROM json_each(?) j LEFT JOIN manifests m ON m.repo = ? AND m.digest = j.value`, repo, digestsOf(m.Manifests))
	if err != nil {
		return err
	}
	for i, have := range sizes {
		c := m.Manifests[i]
		switch {
		case have < 0:
			missing = append(missing, missingEntry{c.Digest.String(), "manifest"})
		case have != c.Size:
			return oci.Err(oci.CodeManifestInvalid, "manifest %s has %d bytes, the index says %d", c.Digest, have, c.Size)
		}
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("%s %s is not in the repository", missing[0].What, missing[0].Digest)
		if len(missing) > 1 {
			msg += fmt.Sprintf(" (and %d more)", len(missing)-1)
		}
		return oci.Err(oci.CodeManifestBlobUnknown, "%s", msg).WithDetail(missing)
	}
	return nil
}

// sizesOf runs query (json_each over the digests, then repo) and returns the
// size it gives for each digest, in order.
func sizesOf(tx *tx, query string, repo int64, ds []digest.Digest) ([]int64, error) {
	if len(ds) == 0 {
		return nil, nil
	}
	list, _ := json.Marshal(ds)
	rows, err := tx.Query(query, string(list), repo)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	sizes := make([]int64, len(ds))
	for i := range sizes {
		sizes[i] = -1
	}
	for rows.Next() {
		var i int
		var size int64
		if err := rows.Scan(&i, &size); err != nil {
			return nil, err
		}
		if i >= 0 && i < len(sizes) {
			sizes[i] = size
		}
	}
	return sizes, rows.Err()
}

// GetManifest returns a manifest by tag or digest.
func (s *Store) GetManifest(ctx context.Context, repo, ref string) (*Manifest, error) {
	if err := checkName(repo); err != nil {
		return nil, err
	}
	r, err := parseRef(ref)
	if err != nil {
		if oci.HasCode(err, oci.CodeManifestInvalid) { // not a valid tag: cannot exist
			return nil, manifestUnknown(repo, ref)
		}
		return nil, err
	}
	return s.cachedLookup(ctx, repo, ref, func(id int64) (*Manifest, error) {
		return s.queryManifest(ctx, repo, ref, id, r)
	})
}

// cachedLookup answers a manifest lookup of ref in repo from the cache while
// the repository's generation is unchanged, else with fetch, whose answer it
// keeps. An unknown repository is MANIFEST_UNKNOWN.
func (s *Store) cachedLookup(ctx context.Context, repo, ref string, fetch func(id int64) (*Manifest, error)) (*Manifest, error) {
	id, err := s.lookupRepo(ctx, repo)
	if err != nil {
		return nil, err
	}
	if id == 0 {
		return nil, manifestUnknown(repo, ref)
	}
	gen, cached := s.generation(id) // read before fetching: see gens
	if cached {
		if m := s.cache.get(id, ref, gen); m != nil {
			return m, nil
		}
	}
	m, err := fetch(id)
	if err == nil && cached {
		s.cache.put(id, ref, gen, m)
	}
	return m, err
}

// queryManifest reads a manifest by tag or digest from the metadata.
func (s *Store) queryManifest(ctx context.Context, repo, ref string, id int64, r manifestRef) (*Manifest, error) {
	var m Manifest
	var dg string
	var subject sql.NullString
	var err error
	if r.tag != "" {
		err = s.db.queryRow(ctx, `SELECT m.digest, m.media_type, m.body, m.subject FROM tags t JOIN manifests m ON m.repo = t.repo AND m.digest = t.digest WHERE t.repo = ? AND t.name = ?`, id, r.tag).
			Scan(&dg, &m.MediaType, &m.Body, &subject)
	} else {
		err = s.db.queryRow(ctx, `SELECT digest, media_type, body, subject FROM manifests WHERE repo = ? AND digest = ?`, id, r.digest.String()).
			Scan(&dg, &m.MediaType, &m.Body, &subject)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, manifestUnknown(repo, ref)
	}
	if err != nil {
		return nil, err
	}
	m.Digest = digest.Digest(dg)
	m.Subject = digest.Digest(subject.String)
	return &m, nil
}

// DeleteManifest deletes a tag (ref is a tag) or a manifest and every tag
// pointing at it (ref is a digest).
func (s *Store) DeleteManifest(ctx context.Context, repo, ref string) error {
	if err := checkName(repo); err != nil {
		return err
	}
	r, err := parseRef(ref)
	if err != nil {
		return err
	}
	id, err := s.lookupRepo(ctx, repo)
	if err != nil {
		return err
	}
	if id == 0 {
		return manifestUnknown(repo, ref)
	}
	s.changed(id)
	defer s.changed(id)
	return s.db.update(ctx, func(tx *tx) error {
		var res sql.Result
		if r.tag != "" {
			res, err = tx.Exec(`DELETE FROM tags WHERE repo = ? AND name = ?`, id, r.tag)
		} else {
			res, err = tx.Exec(`DELETE FROM manifests WHERE repo = ? AND digest = ?`, id, r.digest.String())
			if err == nil {
				_, err = tx.Exec(`DELETE FROM tags WHERE repo = ? AND digest = ?`, id, r.digest.String())
			}
			if err == nil {
				_, err = tx.Exec(`DELETE FROM refs WHERE repo = ? AND parent = ?`, id, r.digest.String())
			}
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return manifestUnknown(repo, ref)
		}
		return nil
	})
}

// Tags lists repository repo's tags in lexical order after last, at most n
// (n < 0: all). more reports whether tags follow.
func (s *Store) Tags(ctx context.Context, repo, last string, n int) (tags []string, more bool, err error) {
	if err := checkName(repo); err != nil {
		return nil, false, err
	}
	id, err := s.lookupRepo(ctx, repo)
	if err != nil {
		return nil, false, err
	}
	if id == 0 {
		return nil, false, oci.Err(oci.CodeNameUnknown, "repository %q is not known", repo)
	}
	return s.list(ctx, `SELECT name FROM tags WHERE repo = ? AND name > ? ORDER BY name LIMIT ?`, n, id, last)
}

// Catalog lists repositories that hold manifests, in lexical order after
// last, at most n (n < 0: all).
func (s *Store) Catalog(ctx context.Context, last string, n int) ([]string, bool, error) {
	return s.list(ctx, `SELECT name FROM repos p WHERE name > ? AND EXISTS (SELECT 1 FROM manifests m WHERE m.repo = p.id) ORDER BY name LIMIT ?`, n, last)
}

func (s *Store) list(ctx context.Context, query string, n int, args ...any) ([]string, bool, error) {
	limit := int64(n) + 1
	if n < 0 {
		limit = -1
	}
	rows, err := s.db.query(ctx, query, append(args, limit)...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, false, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	if err := s.db.settle(); err != nil {
		return nil, false, err
	}
	if n >= 0 && len(out) > n {
		return out[:n], true, nil
	}
	return out, false, nil
}

// Referrers lists the manifests of repository repo whose subject is d,
// optionally only those of artifactType, as descriptors ordered by digest.
func (s *Store) Referrers(ctx context.Context, repo string, d digest.Digest, artifactType string) ([]v1.Descriptor, error) {
	if err := checkName(repo); err != nil {
		return nil, err
	}
	out := []v1.Descriptor{}
	id, err := s.lookupRepo(ctx, repo)
	if err != nil || id == 0 {
		return out, err
	}
	q := `SELECT digest, media_type, artifact_type, size, annotations FROM manifests WHERE repo = ? AND subject = ?`
	args := []any{id, d.String()}
	if artifactType != "" {
		q += ` AND artifact_type = ?`
		args = append(args, artifactType)
	}
	rows, err := s.db.query(ctx, q+` ORDER BY digest`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var desc v1.Descriptor
		var dg string
		var ann []byte
		if err := rows.Scan(&dg, &desc.MediaType, &desc.ArtifactType, &desc.Size, &ann); err != nil {
			return nil, err
		}
		desc.Digest = digest.Digest(dg)
		if len(ann) > 0 {
			if err := json.Unmarshal(ann, &desc.Annotations); err != nil {
				return nil, err
			}
		}
		out = append(out, desc)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := s.db.settle(); err != nil {
		return nil, err
	}
	return out, nil
}
