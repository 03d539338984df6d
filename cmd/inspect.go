package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/dfsreg/dfsreg/internal/buildinfo"
	"github.com/dfsreg/dfsreg/internal/config"
	"github.com/dfsreg/dfsreg/internal/inspect"
	"github.com/dfsreg/dfsreg/internal/ocilayout"
	"github.com/dfsreg/dfsreg/internal/remote"
	"github.com/dfsreg/dfsreg/internal/store"
	"github.com/dfsreg/dfsreg/internal/store/ipfs"
)

type inspectOptions struct {
	cf        *configFlags
	jsonOut   bool
	noColor   bool
	plainHTTP bool
	insecure  bool
}

func newInspectCmd() *cobra.Command {
	o := &inspectOptions{}
	cmd := &cobra.Command{
		Use:   "inspect REF | DIR REF",
		Short: "Show an image: platforms, manifests, config, layers, referrers and its 2DFS field",
		Long: `Show what an image is made of: the index with its platforms, each
manifest with its config summary and layers (with sizes), the referrers,
and for a 2DFS image the field drawn as a grid of rows x columns, each
cell with its size and digest prefix, holes shown as "·". A semantic tag
marks the cells it selects with "*". --json prints the same facts as
stable JSON for scripts.

--root (or the root of --config) names a store; DFSREG_ROOT alone does
not. A store is opened read-only: nothing is written, created or
migrated, and "dfsreg serve" may be running on it. On the IPFS backend
(storage.backend in --config or DFSREG_STORAGE_BACKEND) every blob's CID
is shown, to fetch it from any gateway.

Colours are used on a terminal, unless --no-color or NO_COLOR is set.

` + inspect.TargetHelp,
		Example: `  dfsreg inspect 127.0.0.1:5000/models/llm:v1--0.0.1.3
  dfsreg inspect --root /srv/dfsreg fixture/dense:v1 --json | jq .manifests[0].field
  dfsreg inspect /srv/dfsreg fixture/sparse:v1
  dfsreg inspect oci:./tdfs-image:v1--0.0.1.1`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(cmd.Context(), cmd.OutOrStdout(), args, o)
		},
	}
	o.cf = addConfigFlags(cmd, "root")
	fs := cmd.Flags()
	if f := fs.Lookup("root"); f != nil { // no default store: see Classify
		f.Usage, f.DefValue = "inspect REPO:TAG of the store `DIR`", ""
		f.Value.Set("")
	}
	fs.BoolVar(&o.jsonOut, "json", false, "print the report as JSON")
	fs.BoolVar(&o.noColor, "no-color", false, "no colours (also when NO_COLOR is set or stdout is not a terminal)")
	fs.BoolVar(&o.plainHTTP, "plain-http", false, "talk plain HTTP to the registry")
	fs.BoolVar(&o.insecure, "insecure", false, "do not verify the registry's TLS certificate")
	return cmd
}

func runInspect(ctx context.Context, stdout io.Writer, args []string, o *inspectOptions) error {
	// The store of --root, or of --config's root; DFSREG_ROOT alone does
	// not make a reference a store's (it would shadow registries).
	root := ""
	if f := o.cf.flags["root"]; f.Changed {
		root = f.Value.String()
	} else if o.cf.file != "" {
		c, err := o.cf.load()
		if err != nil {
			return err
		}
		root = c.Root
	}
	t, err := inspect.Classify(args, root)
	if err != nil {
		return err
	}
	display := args[len(args)-1]
	var src inspect.Source
	switch t.Kind {
	case "store":
		st, err := openStoreReadOnly(ctx, o.cf, t.Dir)
		if err != nil {
			return err
		}
		defer st.Close()
		src = inspect.StoreSource(st, t.Repo)
	case "layout":
		l, err := ocilayout.Open(t.Dir)
		if err != nil {
			return err
		}
		src = inspect.LayoutSource(l)
	default:
		ref, err := remote.ParseReference(t.Ref)
		if err != nil {
			return err
		}
		src = inspect.RegistrySource(ref, remote.Options{PlainHTTP: o.plainHTTP, Insecure: o.insecure, UserAgent: "dfsreg/" + buildinfo.Get().Version})
		t.Ref = ref.Identifier()
	}
	rep, err := inspect.Inspect(ctx, src, display, t.Ref)
	if err != nil {
		return err
	}
	if o.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return inspect.Render(stdout, rep, inspect.RenderOptions{Color: useColor(stdout, o.noColor)})
}

// openStoreReadOnly opens the store at dir read-only over the configured
// blob backend (read-only too where the backend has such a mode).
func openStoreReadOnly(ctx context.Context, cf *configFlags, dir string) (*store.Store, error) {
	c, err := cf.load()
	if err != nil {
		return nil, err
	}
	c.Root = dir
	b, err := newReadOnlyBackend(ctx, c)
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, store.Options{Root: dir, Backend: b, ReadOnly: true})
}

func newReadOnlyBackend(ctx context.Context, c *config.Config) (store.Backend, error) {
	if c.Storage.Backend == "ipfs" {
		b, err := ipfs.New(ctx, ipfs.Options{API: c.Storage.IPFS.API, ReadOnly: true})
		if err != nil {
			return nil, fmt.Errorf("storage.backend ipfs: %w", err)
		}
		return b, nil
	}
	return newBackend(ctx, c)
}
