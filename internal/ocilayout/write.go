package ocilayout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// WriteResult is what Write did.
type WriteResult struct {
	Dir  string `json:"dir"`
	Name string `json:"name,omitempty"`
	// Blobs is the number of objects the image has in the layout
	// (manifests, configs, layers), Bytes their total size.
	Blobs int   `json:"blobs"`
	Bytes int64 `json:"bytes"`
	// Written counts the objects that were not in the layout before.
	Written int `json:"written"`
}

// Write copies the image top, read through c, into the OCI image layout at
// dir, creating the layout if dir does not exist or is empty. Every object
// reachable from top (see Walk) is copied byte for byte and verified against
// its digest; objects the layout already holds are kept. Then index.json
// gets an entry for top, annotated org.opencontainers.image.ref.name = name
// when name is not empty; an existing entry of that name is replaced, other
// entries stay. Blobs and index.json are written to temporary files and
// renamed, so an interrupted Write leaves no partial file under its name.
func Write(ctx context.Context, dir, name string, top ocispec.Descriptor, c Content) (*WriteResult, error) {
	if err := prepare(dir); err != nil {
		return nil, err
	}
	res := &WriteResult{Dir: dir, Name: name}
	err := Walk(ctx, c, top, func(desc ocispec.Descriptor, body []byte) error {
		wrote, err := writeBlob(ctx, dir, desc, body, c)
		if err != nil {
			return err
		}
		res.Blobs++
		res.Bytes += desc.Size
		if wrote {
			res.Written++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if top.Size == 0 {
		// Walk checked the bytes; take the size from the written file.
		if fi, err := os.Stat(blobPath(dir, top.Digest)); err == nil {
			top.Size = fi.Size()
		}
	}
	if err := addIndexEntry(dir, name, top); err != nil {
		return nil, err
	}
	return res, nil
}

// prepare makes dir an OCI image layout if it is not one yet.
func prepare(dir string) error {
	layoutFile := filepath.Join(dir, ocispec.ImageLayoutFile)
	if _, err := os.Stat(layoutFile); err == nil {
		return os.MkdirAll(filepath.Join(dir, ocispec.ImageBlobsDir, digest.SHA256.String()), 0o755)
	}
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	case len(ents) > 0:
		return fmt.Errorf("%s exists and is not an OCI image layout (no %s): refusing to write into it", dir, ocispec.ImageLayoutFile)
	}
	if err := os.MkdirAll(filepath.Join(dir, ocispec.ImageBlobsDir, digest.SHA256.String()), 0o755); err != nil {
		return err
	}
	lb, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	return writeFileAtomic(dir, layoutFile, func(w io.Writer) error {
		_, err := w.Write(lb)
		return err
	})
}

func blobPath(dir string, d digest.Digest) string {
	return filepath.Join(dir, ocispec.ImageBlobsDir, d.Algorithm().String(), d.Encoded())
}

// writeBlob stores one object unless the layout holds it with the right
// size. body is the object's bytes for manifests (already verified), nil
// for blobs, which are streamed from c and verified while copying.
func writeBlob(ctx context.Context, dir string, desc ocispec.Descriptor, body []byte, c Content) (bool, error) {
	if err := desc.Digest.Validate(); err != nil {
		return false, fmt.Errorf("digest %q: %w", desc.Digest, err)
	}
	p := blobPath(dir, desc.Digest)
	if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && (desc.Size == 0 || fi.Size() == desc.Size) {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return false, err
	}
	var src io.Reader
	if body != nil {
		src = bytes.NewReader(body)
	} else {
		rc, err := c.OpenBlob(ctx, desc.Digest)
		if err != nil {
			return false, fmt.Errorf("blob %s (%s): %w", desc.Digest, desc.MediaType, err)
		}
		defer rc.Close()
		src = rc
	}
	err := writeFileAtomic(filepath.Dir(p), p, func(w io.Writer) error {
		v := desc.Digest.Verifier()
		n, err := io.Copy(io.MultiWriter(w, v), src)
		switch {
		case err != nil:
			return fmt.Errorf("blob %s: %w", desc.Digest, err)
		case !v.Verified():
			return fmt.Errorf("blob %s: content does not match its digest", desc.Digest)
		case desc.Size != 0 && n != desc.Size:
			return fmt.Errorf("blob %s: %d bytes, its descriptor says %d", desc.Digest, n, desc.Size)
		}
		return nil
	})
	return err == nil, err
}

// writeFileAtomic writes path through a temporary file in tmpDir, synced and
// renamed into place.
func writeFileAtomic(tmpDir, path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(tmpDir, ".tmp-")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := write(f); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	ok = true
	return nil
}

// addIndexEntry adds top to index.json, replacing an entry of the same
// name. Members of index.json and of other entries are kept as they are.
func addIndexEntry(dir, name string, top ocispec.Descriptor) error {
	path := filepath.Join(dir, ocispec.ImageIndexFile)
	doc := map[string]json.RawMessage{}
	var entries []json.RawMessage
	switch raw, err := os.ReadFile(path); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(raw, &doc); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if m, ok := doc["manifests"]; ok {
			if err := json.Unmarshal(m, &entries); err != nil {
				return fmt.Errorf("%s: manifests: %w", path, err)
			}
		}
	}
	kept := entries[:0]
	for _, e := range entries {
		var d ocispec.Descriptor
		if err := json.Unmarshal(e, &d); err != nil {
			return fmt.Errorf("%s: manifests: %w", path, err)
		}
		if name != "" && d.Annotations[ocispec.AnnotationRefName] == name {
			continue
		}
		if name == "" && d.Digest == top.Digest && d.Annotations[ocispec.AnnotationRefName] == "" {
			continue
		}
		kept = append(kept, e)
	}
	entry := ocispec.Descriptor{MediaType: top.MediaType, Digest: top.Digest, Size: top.Size, Platform: top.Platform}
	if name != "" {
		entry.Annotations = map[string]string{ocispec.AnnotationRefName: name}
	}
	eb, err := json.Marshal(entry)
	if err != nil {
		return err
	}
	kept = append(kept, eb)
	mb, err := json.Marshal(kept)
	if err != nil {
		return err
	}
	doc["manifests"] = mb
	if _, ok := doc["schemaVersion"]; !ok {
		doc["schemaVersion"] = json.RawMessage("2")
	}
	if _, ok := doc["mediaType"]; !ok {
		doc["mediaType"] = json.RawMessage(`"` + ocispec.MediaTypeImageIndex + `"`)
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return writeFileAtomic(dir, path, func(w io.Writer) error {
		_, err := w.Write(out)
		return err
	})
}
