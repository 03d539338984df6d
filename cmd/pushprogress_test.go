package cmd

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/dfsreg/dfsreg/internal/push"
	"github.com/dfsreg/dfsreg/internal/tdfs"
)

func feed(r *pushRenderer) {
	d := ocispec.Descriptor{Digest: digest.FromString("a"), Size: 4 << 20}
	m := ocispec.Descriptor{Digest: digest.FromString("m")}
	r.built(tdfs.Blob{Row: 1, Col: 2, Digest: d.Digest, Size: d.Size})
	r.event(push.Event{Kind: push.PushStart, Count: 1, Bytes: d.Size})
	r.event(push.Event{Kind: push.BlobStart, Desc: d, Label: "allotment"})
	r.event(push.Event{Kind: push.BlobProgress, Desc: d, Label: "allotment", Bytes: 1 << 20})
	r.event(push.Event{Kind: push.BlobRetry, Desc: d, Label: "allotment", Err: errors.New("503")})
	r.event(push.Event{Kind: push.BlobDone, Desc: d, Label: "allotment", Status: push.Uploaded, Bytes: d.Size})
	r.event(push.Event{Kind: push.ManifestDone, Desc: m, Label: "index"})
	r.finish(&push.Result{Blobs: 1, Uploaded: 1, BytesSent: d.Size, Seconds: 1, Manifests: 1, Retries: 1})
}

func TestPushRendererPlain(t *testing.T) {
	var buf bytes.Buffer
	feed(newPushRenderer(&buf, false))
	want := []string{
		"built allotment (1,2) ca978112ca1b 4.0 MiB",
		"retry allotment ca978112ca1b: 503",
		"uploaded  allotment ca978112ca1b 4.0 MiB",
		"pushed index " + digest.FromString("m").String(),
		"1 blobs (1 uploaded, 0 already there, 0 mounted), 4.0 MiB sent in 1.00s (4.0 MiB/s), 1 manifests, 1 retries",
	}
	if got := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", buf.String(), strings.Join(want, "\n"))
	}
	if strings.Contains(buf.String(), "\x1b[") {
		t.Fatal("escape sequences in plain output")
	}
}

func TestPushRendererTerminal(t *testing.T) {
	var buf bytes.Buffer
	feed(newPushRenderer(&buf, true))
	out := buf.String()
	for _, want := range []string{
		"allotment ca978112ca1b [======                  ]  25% 1.0 MiB/4.0 MiB", // the bar
		"blobs 0/1  1.0 MiB/4.0 MiB", // the totals line
		"\x1b[2A",                    // the live block redrawn in place
		"uploaded",
		"1 blobs (1 uploaded",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, out)
		}
	}
	// The last redraw clears the block: the final lines are the summary.
	if !strings.HasSuffix(out, "\x1b[J1 blobs (1 uploaded, 0 already there, 0 mounted), 4.0 MiB sent in 1.00s (4.0 MiB/s), 1 manifests, 1 retries\n") {
		t.Errorf("output does not end with a cleared block and the summary:\n%q", out[max(0, len(out)-200):])
	}
}
