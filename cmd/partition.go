package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/dfsreg/dfsreg/internal/flatten"
	"github.com/dfsreg/dfsreg/internal/inspect"
	"github.com/dfsreg/dfsreg/internal/oci"
	"github.com/dfsreg/dfsreg/internal/ocilayout"
	"github.com/dfsreg/dfsreg/internal/partition"
	"github.com/dfsreg/dfsreg/internal/store"
)

// Shared by `dfsreg partition` and `dfsreg flatten`: read a 2DFS image from
// the store or an OCI layout, compute a partition with the code serve uses
// (store.Partition, or flatten.Flatten on a layout), write it out, print it.

const offlineRefHelp = `REF names the 2DFS image, in the store or in an OCI image layout:

  REPO:TAG          repository REPO of the store (--root), tag TAG
  REPO@DIGEST       (flatten only) by manifest or index digest
  oci:DIR:TAG       the image of OCI layout DIR whose index.json entry is
                    annotated org.opencontainers.image.ref.name=TAG
  oci:DIR           the layout's only image; a layout written by
                    "tdfs image export" (index.json is the 2DFS index) too

For partition, TAG is a semantic tag: BASE--r1.c1.r2.c2[--...] (rectangles
of the field, inclusive; several are a union). The partition of BASE is
computed even if a literal tag of the full name exists (serve would answer
with that literal tag).

Outputs (both may be given; with neither, the result is only printed, and
for a store input it is also stored and remembered, as a GET would):

  -o DIR[:NAME]     write an OCI image layout: the result index or manifest,
                    its children and configs, and every layer and selected
                    allotment, byte for byte. NAME (default: the input's
                    tag) annotates the index.json entry; an existing layout
                    keeps its other entries. Read it with skopeo/umoci as
                    oci:DIR:NAME.
  --tag [REPO:]TAG  tag the result in the store (default REPO: the input's;
                    required for an oci: input). The tag keeps the result
                    alive independently of its source.

The result is byte-identical to what "dfsreg serve" answers for the same
selection: same digests for the index, manifests and configs.`

type offlineOpts struct {
	cf      *configFlags
	out     string
	tag     string
	jsonOut bool
	flatten bool // whole field instead of a semantic tag's selection
}

func addOfflineFlags(cmd *cobra.Command, o *offlineOpts) {
	o.cf = addConfigFlags(cmd, "root")
	fs := cmd.Flags()
	fs.StringVarP(&o.out, "output", "o", "", "write the result to the OCI image layout `DIR[:NAME]`")
	fs.StringVar(&o.tag, "tag", "", "tag the result in the store as `[REPO:]TAG`")
	fs.BoolVar(&o.jsonOut, "json", false, "print the result as JSON")
}

func newPartitionCmd() *cobra.Command {
	o := &offlineOpts{}
	cmd := &cobra.Command{
		Use:   "partition REF",
		Short: "Write the partition of a 2DFS image for a semantic tag, offline",
		Long: `Compute the partition a semantic tag selects (the base layers plus the
selected allotments, as a plain OCI image) without a running registry.
The store may be in use by "dfsreg serve" at the same time.

` + offlineRefHelp,
		Example: `  dfsreg partition --root /srv/dfsreg fixture/dense:v1--0.0.1.1 -o ./p
  dfsreg partition --root /srv/dfsreg fixture/dense:v1--0.0.1.1 --tag v1-small
  dfsreg partition oci:./tdfs-image:v1--0.2.2.2 -o ./p:col2 --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runOffline(cmd, args[0], o)
		},
	}
	addOfflineFlags(cmd, o)
	return cmd
}

// offlineInput is a resolved input: where the image is and what to select.
type offlineInput struct {
	ref string // as given
	// Store input.
	repo string
	// Layout input.
	layoutDir string
	// base is the tag or digest of the 2DFS image, tag the input's tag
	// text (the default name of outputs).
	base, tag string
	sel       partition.Selection
}

func parseOfflineRef(ref string, whole bool) (*offlineInput, error) {
	in := &offlineInput{ref: ref}
	var name string
	if dir, n, ok := ocilayout.ParseRef(ref); strings.HasPrefix(ref, ocilayout.Prefix) {
		if !ok {
			return nil, fmt.Errorf("%q: no layout directory after %q", ref, ocilayout.Prefix)
		}
		in.layoutDir, name = dir, n
	} else {
		if r, d, ok := strings.Cut(ref, "@"); ok {
			if !whole {
				return nil, fmt.Errorf("%q: partition needs a semantic tag (REPO:TAG--r1.c1.r2.c2), not a digest", ref)
			}
			if _, err := oci.ParseDigest(d); err != nil {
				return nil, fmt.Errorf("%q: %v", ref, err)
			}
			in.repo, in.base = r, d
		} else {
			i := strings.LastIndexByte(ref, ':')
			if i < 0 {
				return nil, fmt.Errorf("%q: want REPO:TAG or oci:DIR[:TAG]", ref)
			}
			in.repo, name = ref[:i], ref[i+1:]
			if name == "" {
				return nil, fmt.Errorf("%q: empty tag", ref)
			}
		}
		if !oci.ValidName(in.repo) {
			return nil, fmt.Errorf("%q: invalid repository name %q", ref, in.repo)
		}
	}
	in.tag = name
	if whole {
		if in.base == "" {
			in.base = name
		}
		if in.base != "" && !oci.LooksLikeDigest(in.base) && !oci.ValidTag(in.base) {
			return nil, fmt.Errorf("%q: invalid tag %q", ref, in.base)
		}
		in.sel = partition.All()
		return in, nil
	}
	base, sel, ok, err := partition.ParseRef(name)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%q: %w", ref, err)
	case !ok:
		return nil, fmt.Errorf("%q: %q is not a semantic tag (TAG--r1.c1.r2.c2[--...], four decimal numbers per rectangle); use \"dfsreg flatten\" for the whole field", ref, name)
	}
	in.base, in.sel = base, sel
	return in, nil
}

// offlineResult is what the command prints with --json.
type offlineResult struct {
	Command   string `json:"command"`
	Input     string `json:"input"`
	Source    string `json:"source"`
	Selection string `json:"selection"`
	ocilayout.Summary
	Layout *ocilayout.WriteResult `json:"layout,omitempty"`
	Tag    string                 `json:"tag,omitempty"`
}

func runOffline(cmd *cobra.Command, ref string, o *offlineOpts) error {
	ctx := cmd.Context()
	in, err := parseOfflineRef(ref, o.flatten)
	if err != nil {
		return err
	}
	var outDir, outName string
	if o.out != "" {
		var ok bool
		if outDir, outName, ok = ocilayout.SplitName(o.out); !ok {
			return fmt.Errorf("-o %q: no directory", o.out)
		}
		if outName == "" && !oci.LooksLikeDigest(in.tag) {
			outName = in.tag
		}
	}
	var tagRepo, tagName string
	if o.tag != "" {
		tagRepo, tagName = in.repo, o.tag
		if i := strings.LastIndexByte(o.tag, ':'); i >= 0 {
			tagRepo, tagName = o.tag[:i], o.tag[i+1:]
		}
		switch {
		case tagRepo == "":
			return fmt.Errorf("--tag %q: a layout input needs --tag REPO:TAG", o.tag)
		case !oci.ValidName(tagRepo):
			return fmt.Errorf("--tag %q: invalid repository name %q", o.tag, tagRepo)
		case !oci.ValidTag(tagName):
			return fmt.Errorf("--tag %q: invalid tag %q", o.tag, tagName)
		}
	}

	var st *store.Store
	if in.repo != "" || o.tag != "" {
		if st, err = openExistingStore(ctx, o.cf); err != nil {
			return err
		}
		defer st.Close()
	}

	res := &offlineResult{Command: cmd.Name(), Input: ref, Selection: in.sel.Key()}
	if o.flatten {
		res.Selection = "all"
	}
	var content ocilayout.Content
	var top ocispec.Descriptor
	var body []byte
	if in.repo != "" {
		src, err := st.GetManifest(ctx, in.repo, in.base)
		if err != nil {
			return err
		}
		m, err := st.Partition(ctx, in.repo, src, in.sel)
		if err != nil {
			return err
		}
		res.Source = src.Digest.String()
		content, body = st.Content(in.repo), m.Body
		top = ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: int64(len(m.Body))}
	} else {
		l, err := ocilayout.Open(in.layoutDir)
		if err != nil {
			return err
		}
		img, err := l.Find(ctx, in.base)
		if err != nil {
			return err
		}
		fr, err := flatten.Flatten(ctx, l, img.Descriptor.MediaType, img.Body, in.sel)
		if err != nil {
			if errors.Is(err, flatten.ErrNotTDFS) {
				return fmt.Errorf("%s (%s) is not a 2DFS image: it has no field layer", ref, img.Descriptor.Digest)
			}
			return err
		}
		res.Source = img.Descriptor.Digest.String()
		content, body, top = ocilayout.WithBlobs(l, fr.Blobs()...), fr.Top.Data, fr.Top.Descriptor()
	}
	sum, err := ocilayout.Describe(ctx, content, top, body)
	if err != nil {
		return err
	}
	res.Summary = *sum

	if outDir != "" {
		if res.Layout, err = ocilayout.Write(ctx, outDir, outName, top, content); err != nil {
			return fmt.Errorf("writing %s: %w", outDir, err)
		}
	}
	if o.tag != "" {
		if _, err := st.PutImage(ctx, tagRepo, tagName, top, content, in.repo); err != nil {
			return fmt.Errorf("tagging %s:%s: %w", tagRepo, tagName, err)
		}
		res.Tag = tagRepo + ":" + tagName
	}

	w := cmd.OutOrStdout()
	if o.jsonOut {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	printOffline(w, res)
	return nil
}

// openExistingStore opens the store named by --root/--config/DFSREG_*,
// over its configured blob backend (openStore, as serve does), refusing to
// create one.
func openExistingStore(ctx context.Context, cf *configFlags) (*store.Store, error) {
	c, err := cf.load()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(c.Root, store.DBFile)); err != nil {
		return nil, fmt.Errorf("no dfsreg store at %s (--root): %w", c.Root, err)
	}
	return openStore(ctx, c)
}

func printOffline(w io.Writer, r *offlineResult) {
	what := "partition " + r.Selection
	if r.Selection == "all" {
		what = "whole field"
	}
	fmt.Fprintf(w, "%s: %s of %s\n", r.Input, what, r.Source)
	fmt.Fprintf(w, "digest      %s\n", r.Digest)
	fmt.Fprintf(w, "media type  %s\n", r.MediaType)
	fmt.Fprintf(w, "size        %s\n", inspect.HumanBytes(r.Size))
	for _, m := range r.Manifests {
		p := m.Platform
		if p == "" {
			p = "(no platform)"
		}
		fmt.Fprintf(w, "%s  manifest %s (%s)", p, m.Digest, inspect.HumanBytes(m.Size))
		if m.Config.Digest != "" {
			fmt.Fprintf(w, "  config %s (%s)", m.Config.Digest, inspect.HumanBytes(m.Config.Size))
		}
		fmt.Fprintln(w)
		for i, l := range m.Layers {
			fmt.Fprintf(w, "  %2d  %s  %9s  %s\n", i+1, l.Digest, inspect.HumanBytes(l.Size), l.MediaType)
		}
		fmt.Fprintf(w, "      %d layers, %s\n", len(m.Layers), inspect.HumanBytes(m.LayersSize))
	}
	if l := r.Layout; l != nil {
		name := ""
		if l.Name != "" {
			name = " as " + l.Name
		}
		fmt.Fprintf(w, "wrote OCI layout %s%s: %d objects, %s (%d new)\n", l.Dir, name, l.Blobs, inspect.HumanBytes(l.Bytes), l.Written)
	}
	if r.Tag != "" {
		fmt.Fprintf(w, "tagged %s -> %s\n", r.Tag, r.Digest)
	}
}
