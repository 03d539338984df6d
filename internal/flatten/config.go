package flatten

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/dfsreg/dfsreg/internal/partition"
)

// config writes the new config for the selected allotments: their diff_ids
// appended to rootfs.diff_ids and, when the config has a history array, one
// entry per added layer. Everything else is kept as it is, including the
// descriptor's media type.
func (f *flattener) config(desc object, allots []partition.Allotment) (Blob, error) {
	d, err := descriptorDigest(desc)
	if err != nil {
		return Blob{}, fmt.Errorf("manifest: config: %w", err)
	}
	body, err := fetchSmallBlob(f.ctx, f.src, "config", d)
	if err != nil {
		return Blob{}, err
	}
	c, err := decodeObject(body)
	if err != nil {
		return Blob{}, fmt.Errorf("config %s: %w", d, err)
	}
	rootfs, ok := c["rootfs"].(object)
	if !ok {
		return Blob{}, fmt.Errorf("config %s: no \"rootfs\" object", d)
	}
	ids, ok := rootfs["diff_ids"].([]any)
	if !ok && rootfs["diff_ids"] != nil {
		return Blob{}, fmt.Errorf("config %s: \"rootfs.diff_ids\" is not an array", d)
	}
	rootfs["diff_ids"] = &extended{ids, len(allots), func(buf *bytes.Buffer, i int) {
		buf.WriteByte('"')
		buf.WriteString(string(allots[i].DiffID)) // validated hex: no escaping
		buf.WriteByte('"')
	}}

	// Without a history array there is nothing to keep aligned with the
	// layers, and entries for the new layers alone would misalign it.
	switch h := c["history"].(type) {
	case nil:
	case []any:
		c["history"] = &extended{h, len(allots), func(buf *bytes.Buffer, i int) {
			writeHistory(buf, allots[i])
		}}
	default:
		return Blob{}, fmt.Errorf("config %s: \"history\" is not an array", d)
	}

	mediaType, _ := desc["mediaType"].(string)
	b, err := newBlob(mediaType, c, len(body)+len(allots)*120)
	if err != nil {
		return Blob{}, fmt.Errorf("config %s: %w", d, err)
	}
	f.add(&f.res.Configs, b)
	return b, nil
}

// writeHistory writes the history entry of an added allotment layer, in
// canonical form: {"created_by":"2dfs allotment <row>,<col>"}. It has no
// timestamp, so the output stays deterministic.
func writeHistory(buf *bytes.Buffer, a partition.Allotment) {
	var b [64]byte
	out := append(b[:0], `{"created_by":"2dfs allotment `...)
	out = strconv.AppendInt(out, int64(a.Row), 10)
	out = append(out, ',')
	out = strconv.AppendInt(out, int64(a.Col), 10)
	buf.Write(append(out, `"}`...))
}
