package inspect

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/oci"
	"github.com/dfsreg/dfsreg/internal/ocilayout"
	"github.com/dfsreg/dfsreg/internal/store"
)

// TargetHelp explains how Classify reads the arguments (for --help).
const TargetHelp = `What is inspected is decided from the arguments, in this order:

  --root DIR REPO:TAG   repository REPO of the store DIR (also REPO@DIGEST)
  DIR REF               DIR holds a store (dfsreg.db): REF is REPO:TAG or
                        REPO@DIGEST; DIR is an OCI layout (oci-layout):
                        REF is a name (org.opencontainers.image.ref.name)
                        or a digest
  oci:DIR[:NAME]        an OCI image layout, as skopeo and umoci write it
  DIR[:NAME]            an existing directory holding an OCI layout; an
                        argument starting with /, ./, ../ or ~ is always a
                        path, never a registry reference
  anything else         a registry reference: [HOST[:PORT]/]REPO[:TAG|@DIGEST],
                        with docker's defaults (docker.io, library/, latest);
                        loopback and private addresses use plain HTTP

TAG may be a semantic tag (TAG--r1.c1.r2.c2[--...]): the 2DFS image TAG
is shown with the cells the rectangles select marked, and the digest of the
partition dfsreg serves for it.`

// Target is what to inspect.
type Target struct {
	// Kind is "registry", "store" or "layout".
	Kind string
	// Dir is the store or layout directory.
	Dir string
	// Repo is the store's repository.
	Repo string
	// Ref is the registry reference (registry), or the tag or digest to
	// look up in the store's repository or the layout.
	Ref string
}

// Classify decides what args (one or two) name; root is --root ("" when not
// given).
func Classify(args []string, root string) (Target, error) {
	switch {
	case root != "":
		if len(args) != 1 {
			return Target{}, errors.New("with --root, give one REPO:TAG or REPO@DIGEST")
		}
		return storeTarget(root, args[0])
	case len(args) == 2:
		switch {
		case isStore(args[0]):
			return storeTarget(args[0], args[1])
		case isLayout(args[0]):
			return Target{Kind: "layout", Dir: args[0], Ref: args[1]}, nil
		}
		return Target{}, fmt.Errorf("%s is neither a dfsreg store (no %s) nor an OCI image layout (no %s)", args[0], store.DBFile, ocispec.ImageLayoutFile)
	case len(args) != 1:
		return Target{}, errors.New("give one reference (or a store or layout directory and a reference in it)")
	}
	a := args[0]
	if strings.HasPrefix(a, ocilayout.Prefix) {
		dir, n, ok := ocilayout.ParseRef(a)
		if !ok {
			return Target{}, fmt.Errorf("%q: no layout directory after %q", a, ocilayout.Prefix)
		}
		return Target{Kind: "layout", Dir: dir, Ref: n}, nil
	}
	if looksLikePath(a) && !isDir(a) {
		if dir, n, ok := ocilayout.SplitName(a); ok && n != "" && isLayout(dir) {
			return Target{Kind: "layout", Dir: dir, Ref: n}, nil
		}
		return Target{}, fmt.Errorf("%s: no such directory (a path, not a registry reference)", a)
	}
	if isDir(a) {
		switch {
		case isLayout(a):
			return Target{Kind: "layout", Dir: a}, nil
		case isStore(a):
			return Target{}, fmt.Errorf("%s is a dfsreg store: name an image in it (dfsreg inspect %s REPO:TAG, or --root %s REPO:TAG)", a, a, a)
		}
		return Target{}, fmt.Errorf("%s is a directory but neither a dfsreg store nor an OCI image layout", a)
	}
	if dir, n, ok := ocilayout.SplitName(a); ok && n != "" && isLayout(dir) {
		return Target{Kind: "layout", Dir: dir, Ref: n}, nil
	}
	return Target{Kind: "registry", Ref: a}, nil
}

// storeTarget splits REPO:TAG or REPO@DIGEST.
func storeTarget(dir, ref string) (Target, error) {
	t := Target{Kind: "store", Dir: dir}
	if r, d, ok := strings.Cut(ref, "@"); ok {
		if _, err := oci.ParseDigest(d); err != nil {
			return Target{}, fmt.Errorf("%q: %v", ref, err)
		}
		t.Repo, t.Ref = r, d
	} else {
		i := strings.LastIndexByte(ref, ':')
		if i < 0 || strings.Contains(ref[i+1:], "/") {
			return Target{}, fmt.Errorf("%q: want REPO:TAG or REPO@DIGEST", ref)
		}
		t.Repo, t.Ref = ref[:i], ref[i+1:]
		if !oci.ValidTag(t.Ref) {
			return Target{}, fmt.Errorf("%q: invalid tag %q", ref, t.Ref)
		}
	}
	if !oci.ValidName(t.Repo) {
		return Target{}, fmt.Errorf("%q: invalid repository name %q", ref, t.Repo)
	}
	return t, nil
}

// looksLikePath: an argument starting with "/", "./", "../" or "~" (or
// "." and "..") is a path, never a registry reference.
func looksLikePath(a string) bool {
	return a == "." || a == ".." || strings.HasPrefix(a, "/") || strings.HasPrefix(a, "./") ||
		strings.HasPrefix(a, "../") || strings.HasPrefix(a, "~")
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func isStore(dir string) bool  { return isFile(filepath.Join(dir, store.DBFile)) }
func isLayout(dir string) bool { return isFile(filepath.Join(dir, ocispec.ImageLayoutFile)) }
