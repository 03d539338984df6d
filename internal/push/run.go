package push

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dfsreg/dfsreg/internal/ocilayout"
	"github.com/dfsreg/dfsreg/internal/remote"
	"github.com/dfsreg/dfsreg/internal/tdfs"
)

// Request is a whole `dfsreg push`: what to push, where, and how.
type Request struct {
	// Target is the destination reference, host[:port]/path[:tag].
	Target string
	// Layout is an OCI image layout to push: DIR, or oci:DIR[:NAME].
	Layout string
	// Field is a 2dfs.json to build on Base (a registry reference, or a
	// layout as above) instead of pushing a layout.
	Field, Base string
	// Platforms selects base manifests ("os/arch[/variant]").
	Platforms []string
	// KeepOwner: see tdfs.Options.
	KeepOwner bool
	// BuildJobs bounds allotments compressed at once.
	BuildJobs int
	// Spool holds built allotments; "" is a temporary directory removed
	// afterwards.
	Spool   string
	Remote  remote.Options
	Options Options
	// OnAllotment is called as each allotment is built.
	OnAllotment func(tdfs.Blob)
}

// Run resolves req, builds the 2DFS image if asked, and pushes.
func Run(ctx context.Context, req Request) (*Result, error) {
	target, err := remote.ParseReference(req.Target)
	if err != nil {
		return nil, err
	}
	if (req.Field == "") == (req.Layout == "") {
		return nil, errors.New("push needs either a layout or --field with --base")
	}
	if req.Field != "" && req.Base == "" {
		return nil, errors.New("--field needs --base")
	}
	for _, p := range req.Platforms {
		if err := ParsePlatform(p); err != nil {
			return nil, err
		}
	}
	scopes := []string{remote.PushScope(target.Repository())}
	var baseRef *remote.Reference
	if req.Field != "" && !isLayout(req.Base) {
		r, err := remote.ParseReference(req.Base)
		if err != nil {
			return nil, fmt.Errorf("--base: %w", err)
		}
		baseRef = &r
		if r.Registry() == target.Registry() {
			scopes = append(scopes, remote.PullScope(r.Repository()))
		}
	}
	client, err := remote.Dial(ctx, target.Registry(), req.Remote, scopes...)
	if err != nil {
		return nil, err
	}
	t := Target{Repo: client.Repository(target.Repository()), Tag: target.Tag, Reference: target.String()}

	var img *Image
	var built *Built
	var buildTime time.Duration
	if req.Layout != "" {
		dir, name := splitLayout(req.Layout)
		l, err := ocilayout.Open(dir)
		if err != nil {
			return nil, err
		}
		if img, err = FromLayout(ctx, l, name); err != nil {
			return nil, err
		}
	} else {
		if target.Tag == "" {
			return nil, fmt.Errorf("target %s: a built image needs a tag (its digest is not known yet)", req.Target)
		}
		var base Base
		if baseRef == nil {
			dir, name := splitLayout(req.Base)
			l, err := ocilayout.Open(dir)
			if err != nil {
				return nil, fmt.Errorf("--base: %w", err)
			}
			base = LayoutBase{Layout: l, Name: name}
		} else {
			bc := client
			same := baseRef.Registry() == target.Registry()
			if !same {
				if bc, err = remote.Dial(ctx, baseRef.Registry(), req.Remote, remote.PullScope(baseRef.Repository())); err != nil {
					return nil, fmt.Errorf("--base: %w", err)
				}
			}
			base = RemoteBase{Repo: bc.Repository(baseRef.Repository()), Ref: *baseRef, SameRegistry: same}
		}
		spec, err := tdfs.LoadSpec(req.Field)
		if err != nil {
			return nil, err
		}
		spool := req.Spool
		if spool == "" {
			if spool, err = os.MkdirTemp("", "dfsreg-push-"); err != nil {
				return nil, err
			}
			defer os.RemoveAll(spool)
		}
		buildStart := time.Now()
		built, err = Build2DFS(ctx, BuildOptions{
			Spec: spec, Base: base, Platforms: req.Platforms, Spool: spool, Jobs: req.BuildJobs, KeepOwner: req.KeepOwner,
			Target:      tdfs.Target{Registry: target.Registry(), Repository: target.Repository(), Tag: target.Tag},
			OnAllotment: req.OnAllotment,
		})
		if err != nil {
			return nil, err
		}
		img = built.Image
		buildTime = time.Since(buildStart)
	}
	if target.Digest != "" && target.Digest != img.Root.Desc.Digest {
		return nil, fmt.Errorf("target %s: the image's digest is %s", req.Target, img.Root.Desc.Digest)
	}
	res, err := Push(ctx, img, t, req.Options)
	if res != nil && built != nil {
		res.Allotments = len(built.Allotments)
		res.Platforms = built.Platforms
		res.BuildSeconds = buildTime.Seconds()
	}
	return res, err
}

// isLayout reports whether ref names an OCI layout: "oci:..." or a
// directory holding an oci-layout file.
func isLayout(ref string) bool {
	if strings.HasPrefix(ref, ocilayout.Prefix) {
		return true
	}
	_, err := os.Stat(filepath.Join(ref, "oci-layout"))
	return err == nil
}

// splitLayout splits "oci:DIR[:NAME]" or a plain "DIR".
func splitLayout(ref string) (dir, name string) {
	if d, n, ok := ocilayout.ParseRef(ref); ok {
		return d, n
	}
	return strings.TrimPrefix(ref, ocilayout.Prefix), ""
}
