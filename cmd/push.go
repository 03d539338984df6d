package cmd

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dfsreg/dfsreg/internal/buildinfo"
	"github.com/dfsreg/dfsreg/internal/config"
	"github.com/dfsreg/dfsreg/internal/push"
	"github.com/dfsreg/dfsreg/internal/remote"
)

type pushOpts struct {
	field, base string
	platforms   []string
	plainHTTP   bool
	insecure    bool
	quiet       bool
	jsonOut     bool
	jobs        int
	chunkSize   string
	keepOwner   bool
}

func newPushCmd() *cobra.Command {
	o := &pushOpts{}
	cmd := &cobra.Command{
		Use:   "push [LAYOUT] TARGET",
		Short: "Push an OCI layout, or build and push a 2DFS image from a 2dfs.json",
		Long: `Push an image to a registry.

  dfsreg push LAYOUT TARGET
      push the image of an OCI image layout (DIR, or oci:DIR[:NAME]); for a
      2DFS image, the allotment blobs its fields name are pushed too (no
      manifest references them, so generic copy tools leave them behind).

  dfsreg push --field 2dfs.json --base BASE TARGET
      build the allotments of 2dfs.json (src/dst as a string or a list,
      row, col; relative src paths from the file's directory), make the
      field, append it to every platform manifest of BASE (a registry
      reference or an OCI layout; --platform keeps some) and push the 2DFS
      image. Allotment blobs are byte-compatible with the tdfs builder:
      the same files give the same digests on any machine (entries are
      owned by root unless --keep-owner). Sparse fields work.

TARGET is host[:port]/path[:tag][@digest] (Docker Hub defaults: "user/img"
is index.docker.io/user/img:latest).

Blobs the target already has are not sent (HEAD first); blobs of a base in
the same registry are mounted; uploads run in parallel (--jobs), blobs above
--chunk-size go in chunks that resume where the registry stopped, and
transient errors are retried with backoff. Child manifests are pushed by
digest and the tag last: an interrupted push (Ctrl-C) leaves no tag, and
running it again skips what already arrived.

Credentials come from the docker configuration (~/.docker/config.json, or
$DOCKER_CONFIG), credential helpers included; basic and bearer-token
challenges are answered. Loopback registries may use plain HTTP; others
need --plain-http (or --insecure to also skip TLS verification).

Progress goes to stderr (bars on a terminal, one line per blob otherwise);
the pushed reference@digest, or with --json a summary, to stdout.`,
		Example: `  dfsreg push ./tdfs-image 127.0.0.1:5000/fixture/dense:v1
  dfsreg push --field 2dfs.json --base 127.0.0.1:5000/base/tiny:1 127.0.0.1:5000/models/llm:v1
  dfsreg push --field 2dfs.json --base oci:./base:1 --platform linux/arm64 registry.example.com/llm:v1 --json`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPush(cmd, o, args)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.field, "field", "", "build a 2DFS image from this `2dfs.json`")
	fs.StringVar(&o.base, "base", "", "base image for --field: registry `REF` or OCI layout (DIR, oci:DIR[:NAME])")
	fs.StringSliceVar(&o.platforms, "platform", nil, "keep only these base platforms (`os/arch[/variant]`, repeatable)")
	fs.BoolVar(&o.plainHTTP, "plain-http", false, "allow plain HTTP to the registries")
	fs.BoolVar(&o.insecure, "insecure", false, "skip TLS verification (and allow plain HTTP)")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "no progress output")
	fs.BoolVar(&o.jsonOut, "json", false, "print a JSON summary on stdout")
	fs.IntVarP(&o.jobs, "jobs", "j", 4, "blobs uploaded at once")
	fs.StringVar(&o.chunkSize, "chunk-size", "64MiB", "upload blobs larger than this in chunks of this `size` (0: never)")
	fs.BoolVar(&o.keepOwner, "keep-owner", false, "allotment entries keep the source files' owners (as tdfs), instead of root")
	return cmd
}

func runPush(cmd *cobra.Command, o *pushOpts, args []string) error {
	req := push.Request{Target: args[len(args)-1], Field: o.field, Base: o.base, Platforms: o.platforms, KeepOwner: o.keepOwner}
	switch {
	case o.field != "" && len(args) != 1:
		return fmt.Errorf("with --field, give only TARGET (got %d arguments)", len(args))
	case o.field == "" && len(args) != 2:
		return fmt.Errorf("give LAYOUT and TARGET, or --field and --base with TARGET")
	case o.field == "" && o.base != "":
		return fmt.Errorf("--base goes with --field")
	case o.field == "":
		req.Layout = args[0]
	}
	var cs config.ByteSize
	if err := cs.UnmarshalText([]byte(o.chunkSize)); err != nil {
		return fmt.Errorf("--chunk-size: %w", err)
	}
	req.Options.ChunkSize = int64(cs)
	if cs == 0 {
		req.Options.ChunkSize = -1
	}
	req.Options.Jobs = o.jobs
	req.Remote = remote.Options{PlainHTTP: o.plainHTTP, Insecure: o.insecure, UserAgent: "dfsreg/" + buildinfo.Get().Version}

	stderr := cmd.ErrOrStderr()
	var r *pushRenderer
	if !o.quiet {
		r = newPushRenderer(stderr, isTerminal(stderr) && os.Getenv("TERM") != "dumb")
		req.Options.Observer = r.event
		req.Options.ByteProgress = r.tty // bars need bytes; plain lines do not
		req.OnAllotment = r.built
	}
	res, err := push.Run(cmd.Context(), req)
	if r != nil {
		r.finish(res)
	}
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if o.jsonOut {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	ref := res.Reference
	if i := strings.LastIndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	_, err = fmt.Fprintf(out, "%s@%s\n", ref, res.Digest)
	return err
}
