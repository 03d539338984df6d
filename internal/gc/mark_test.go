package gc_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/gc"
)

// The mark: each case builds content, ages it (old content is past the
// grace period and retention), runs a collection and checks what is left.
// Every labelled object is listed in keep or gone, so a case states the
// whole outcome; objects stored after the last age() are fresh.
func TestMark(t *testing.T) {
	hour := time.Hour
	tests := []struct {
		name  string
		opts  gc.Options
		build func(e *env)
		keep  []string
		gone  []string
		// bytesKept: blobs removed from their repository whose bytes
		// another repository still holds.
		bytesKept []string
	}{
		{
			name: "tagged image is kept whole",
			opts: gc.Options{Grace: hour, Untagged: true},
			build: func(e *env) {
				e.image("a", "img", "v1", "l1", "l2")
				e.age(2 * hour)
			},
			keep: labels("img", "img.config", "l1", "l2"),
		},
		{
			name: "overwritten tag with --untagged: old image goes, shared layer stays",
			opts: gc.Options{Grace: hour, Untagged: true},
			build: func(e *env) {
				e.image("a", "old", "v1", "shared", "oldonly")
				e.image("a", "new", "v1", "shared", "newonly")
				e.age(2 * hour)
			},
			keep: labels("new", "new.config", "shared", "newonly"),
			gone: labels("old", "old.config", "oldonly"),
		},
		{
			name: "overwritten tag without --untagged: every manifest is a root",
			opts: gc.Options{Grace: hour},
			build: func(e *env) {
				e.image("a", "old", "v1", "shared", "oldonly")
				e.image("a", "new", "v1", "shared", "newonly")
				e.age(2 * hour)
			},
			keep: labels("old", "old.config", "oldonly", "new", "new.config", "shared", "newonly"),
		},
		{
			name: "blobs no manifest references go after the grace period",
			opts: gc.Options{Grace: hour},
			build: func(e *env) {
				e.image("a", "img", "v1", "l1")
				e.blob("a", "orphan")
				e.age(2 * hour)
				e.blob("a", "fresh")
			},
			keep: labels("img", "img.config", "l1", "fresh"),
			gone: labels("orphan"),
		},
		{
			name: "unreachable manifests inside the grace period stay",
			opts: gc.Options{Grace: hour, Untagged: true},
			build: func(e *env) {
				e.image("a", "old", "v1", "l1")
				e.age(2 * hour)
				e.image("a", "young", "", "l2")
				e.image("a", "new", "v1", "l3")
			},
			keep: labels("young", "young.config", "l2", "new", "new.config", "l3"),
			gone: labels("old", "old.config", "l1"),
		},
		{
			name: "children of a tagged index stay, untagged as they are",
			opts: gc.Options{Grace: hour, Untagged: true},
			build: func(e *env) {
				e.image("a", "amd64", "", "la")
				e.image("a", "arm64", "", "lb")
				e.index("a", "idx", "v1", "amd64", "arm64")
				e.age(2 * hour)
			},
			keep: labels("idx", "amd64", "amd64.config", "la", "arm64", "arm64.config", "lb"),
		},
		{
			name: "overwritten index: its children go unless the new one lists them",
			opts: gc.Options{Grace: hour, Untagged: true},
			build: func(e *env) {
				e.image("a", "amd64", "", "la")
				e.image("a", "arm64", "", "lb")
				e.index("a", "idx1", "v1", "amd64", "arm64")
				e.image("a", "arm64v2", "", "lc")
				e.index("a", "idx2", "v1", "amd64", "arm64v2")
				e.age(2 * hour)
			},
			keep: labels("idx2", "amd64", "amd64.config", "la", "arm64v2", "arm64v2.config", "lc"),
			gone: labels("idx1", "arm64", "arm64.config", "lb"),
		},
		{
			name: "referrers live with their subject",
			opts: gc.Options{Grace: hour, Untagged: true},
			build: func(e *env) {
				img := e.image("a", "img", "v1", "l1")
				sig := e.referrer("a", "sig", "", img)
				e.referrer("a", "sigsig", "", sig)
				e.age(2 * hour)
			},
			keep: labels("img", "img.config", "l1", "sig", "sig.cfg", "sig.sig", "sigsig", "sigsig.cfg", "sigsig.sig"),
		},
		{
			name: "referrers go when their subject goes (--untagged)",
			opts: gc.Options{Grace: hour, Untagged: true},
			build: func(e *env) {
				img := e.image("a", "img", "v1", "l1")
				sig := e.referrer("a", "sig", "", img)
				e.referrer("a", "sigsig", "", sig)
				e.image("a", "new", "v1", "l2")
				e.age(2 * hour)
			},
			keep: labels("new", "new.config", "l2"),
			gone: labels("img", "img.config", "l1", "sig", "sig.cfg", "sig.sig", "sigsig", "sigsig.cfg", "sigsig.sig"),
		},
		{
			name: "referrers go when their subject is deleted, even without --untagged",
			opts: gc.Options{Grace: hour},
			build: func(e *env) {
				img := e.image("a", "img", "v1", "l1")
				e.referrer("a", "sig", "", img)
				e.referrer("a", "tagged", "keep", img)
				e.age(2 * hour)
				e.deleteManifest("img")
			},
			keep: labels("tagged", "tagged.cfg", "tagged.sig"),
			gone: labels("img", "img.config", "l1", "sig", "sig.cfg", "sig.sig"),
		},
		{
			name: "a referrer whose subject never came goes after the grace period",
			opts: gc.Options{Grace: hour},
			build: func(e *env) {
				ghost := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("ghost"), Size: 5}
				e.referrer("a", "early", "", ghost)
				e.age(2 * hour)
				e.referrer("a", "recent", "", ghost)
			},
			keep: labels("recent", "recent.cfg", "recent.sig"),
			gone: labels("early", "early.cfg", "early.sig"),
		},
		{
			name: "2DFS image keeps every allotment and its partitions",
			opts: gc.Options{Grace: hour, Untagged: true},
			build: func(e *env) {
				e.tdfs("a", "t", "v1", "a00", "a01", "a02")
				e.partition("a", "p", "v1--0.0.0.1")
				e.age(2 * hour)
			},
			keep: labels("t", "t.m", "t.base", "t.field", "t.config", "a00", "a01", "a02", "p", "p.m", "p.config"),
		},
		{
			name: "2DFS image keeps every allotment without --untagged too",
			opts: gc.Options{Grace: hour},
			build: func(e *env) {
				e.tdfs("a", "t", "v1", "a00", "a01")
				e.partition("a", "p", "v1--0.0.0.0")
				e.age(2 * hour)
			},
			keep: labels("t", "t.m", "t.base", "t.field", "t.config", "a00", "a01", "p", "p.m", "p.config"),
		},
		{
			name: "partitions go with their overwritten source (--untagged)",
			opts: gc.Options{Grace: hour, Untagged: true},
			build: func(e *env) {
				e.tdfs("a", "t", "v1", "a00", "a01")
				e.partition("a", "p", "v1--0.0.0.1")
				e.image("a", "new", "v1", "l1")
				e.age(2 * hour)
			},
			keep: labels("new", "new.config", "l1"),
			gone: labels("t", "t.m", "t.base", "t.field", "t.config", "a00", "a01", "p", "p.m", "p.config"),
		},
		{
			name: "partitions go with their deleted source, even without --untagged",
			opts: gc.Options{Grace: hour},
			build: func(e *env) {
				e.tdfs("a", "t", "v1", "a00", "a01")
				e.partition("a", "p", "v1--0.0.0.1")
				e.age(2 * hour)
				e.deleteManifest("t")
			},
			// The platform manifest was pushed by digest: untagged, it is a
			// root without --untagged, and keeps its layers and allotments.
			keep: labels("t.m", "t.base", "t.field", "t.config", "a00", "a01"),
			gone: labels("t", "p", "p.m", "p.config"),
		},
		{
			name: "a young partition goes with its source, grace period or not",
			opts: gc.Options{Grace: hour, Untagged: true},
			build: func(e *env) {
				e.tdfs("a", "t", "v1", "a00")
				e.age(2 * hour)
				e.partition("a", "p", "v1--0.0.0.0")
				e.image("a", "new", "v1", "l1")
			},
			// The partition's base layer and allotment are held by its
			// source's edges: a partition cannot outlive its source. Its
			// generated config was linked just now: like any fresh blob it
			// stays for the grace period, then goes.
			keep: labels("new", "new.config", "l1", "p.config"),
			gone: labels("t", "t.m", "t.base", "t.field", "t.config", "a00", "p", "p.m"),
		},
		{
			name: "a young partition of a live source stays, with what it needs",
			opts: gc.Options{Grace: hour, Untagged: true},
			build: func(e *env) {
				e.tdfs("a", "t", "v1", "a00", "a01")
				e.age(2 * hour)
				e.partition("a", "p", "v1--0.0.0.0")
			},
			keep: labels("t", "t.m", "t.base", "t.field", "t.config", "a00", "a01", "p", "p.m", "p.config"),
		},
		{
			name: "retention keeps young untagged manifests",
			opts: gc.Options{Grace: hour, Untagged: true, Retention: 24 * hour},
			build: func(e *env) {
				e.image("a", "ancient", "", "l1")
				e.age(48 * hour)
				e.image("a", "recent", "", "l2")
				e.age(2 * hour)
			},
			keep: labels("recent", "recent.config", "l2"),
			gone: labels("ancient", "ancient.config", "l1"),
		},
		{
			name: "a blob shared with another repository keeps its bytes",
			opts: gc.Options{Grace: hour, Untagged: true},
			build: func(e *env) {
				e.image("a", "old", "v1", "shared@a")
				e.image("a", "new", "v1", "l1")
				e.image("b", "other", "v1", "shared@b")
				e.age(2 * hour)
			},
			keep:      labels("new", "new.config", "l1", "other", "other.config", "shared@b"),
			gone:      labels("old", "old.config", "shared@a"),
			bytesKept: labels("shared@a"),
		},
		{
			name: "--repo limits the collection",
			opts: gc.Options{Grace: hour, Untagged: true, Repos: []string{"a"}},
			build: func(e *env) {
				e.image("a", "old", "v1", "la")
				e.image("a", "new", "v1", "lb")
				e.image("b", "bold", "v1", "lc")
				e.image("b", "bnew", "v1", "ld")
				e.age(2 * hour)
			},
			keep: labels("new", "new.config", "lb", "bold", "bold.config", "lc", "bnew", "bnew.config", "ld"),
			gone: labels("old", "old.config", "la"),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			tc.build(e)
			// Shared labels across repositories are written label@repo:
			// the same content under two labels.
			for l := range e.desc {
				if !slices.Contains(tc.keep, l) && !slices.Contains(tc.gone, l) {
					t.Fatalf("case does not say what happens to %s", l)
				}
			}
			dry := tc.opts
			dry.DryRun = true
			want, err := gc.Run(context.Background(), e.st, dry)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range append(slices.Clone(tc.keep), tc.gone...) {
				if !e.deleted[l] && !e.present(l) {
					t.Errorf("dry run removed %s", l)
				}
			}
			rep, err := gc.Run(context.Background(), e.st, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range tc.keep {
				if !e.present(l) {
					t.Errorf("%s was collected, want it kept", l)
				}
			}
			for _, l := range tc.gone {
				if e.present(l) {
					t.Errorf("%s was kept, want it collected", l)
				}
				if !e.isMan[l] && !slices.Contains(tc.bytesKept, l) && !e.bytesGone(l) {
					t.Errorf("%s: the backend still holds its bytes", l)
				}
			}
			for _, l := range tc.bytesKept {
				if e.bytesGone(l) {
					t.Errorf("%s: bytes deleted, but another repository holds them", l)
				}
			}
			// The dry run announced exactly what the collection did.
			if got, w := counts(rep), counts(want); got != w {
				t.Errorf("dry run said %+v, the collection did %+v", w, got)
			}
			// And the report counts what the case expects.
			var manifests, blobs int
			seen := map[digest.Digest]bool{}
			for _, l := range tc.gone {
				if e.isMan[l] {
					if !e.deleted[l] {
						manifests++
					}
				} else if !slices.Contains(tc.bytesKept, l) && !seen[e.desc[l].Digest] {
					blobs++
				}
				seen[e.desc[l].Digest] = true
			}
			if rep.Totals.Manifests != manifests || rep.Totals.Blobs != blobs {
				t.Errorf("report: %d manifests, %d blobs deleted; want %d, %d", rep.Totals.Manifests, rep.Totals.Blobs, manifests, blobs)
			}
			consistent(t, e.st)
			// A second collection finds nothing more.
			again, err := gc.Run(context.Background(), e.st, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if c := counts(again); c != (reportCounts{}) {
				b, _ := json.Marshal(again)
				t.Errorf("second run collected more: %s", b)
			}
		})
	}
}

type reportCounts struct {
	manifests, partitions, links, blobs int
	manifestBytes, linkBytes, blobBytes int64
}

func counts(r *gc.Report) reportCounts {
	t := r.Totals
	return reportCounts{t.Manifests, t.Partitions, t.Links, t.Blobs, t.ManifestBytes, t.LinkBytes, t.BlobBytes}
}
