// Package flatten turns a 2DFS image and a partition.Selection into a plain
// OCI image (docs: shared/specs/2dfs.md §3 and §4).
//
// For every image manifest that has a field layer, Flatten drops that layer,
// appends one application/vnd.oci.image.layer.v1.tar+gzip layer per selected
// allotment (row-major, each once, real size from Source.BlobSize), appends
// the allotments' diff_ids to the config's rootfs.diff_ids and one history
// entry per added layer, and stores a new config and a new manifest. An
// index is rewritten to point at the new manifests; children without a
// field are kept as they are. Manifests, configs and indexes are edited as
// generic JSON, so unknown members and annotations survive.
//
// # Canonical JSON
//
// Every object Flatten generates (index, manifests, configs) is serialized
// in one canonical form. Digests of generated objects are API, so these
// rules are fixed:
//
//   - compact: no insignificant whitespace, no trailing newline;
//   - object members sorted by key, comparing the keys' UTF-8 bytes;
//     a key duplicated in the input keeps its last value;
//   - numbers written exactly as they appear in the input (1.0 stays 1.0,
//     1e3 stays 1e3); generated sizes are plain decimal integers;
//   - strings: '"' and '\' are escaped as \" and \\; U+0008, U+0009,
//     U+000A, U+000C and U+000D as \b, \t, \n, \f and \r; other characters
//     below U+0020 as \u00XX with lowercase hex; everything else, including
//     '<', '>', '&', U+007F, U+2028 and U+2029, is written as raw UTF-8.
//     Invalid UTF-8 in input strings becomes U+FFFD (as encoding/json
//     decodes it);
//   - true, false and null as such.
//
// Objects that are kept (children without a field, the layers and blobs
// that are referenced) are never re-serialized.
//
// The package performs no I/O of its own: all content comes through a
// Source, and every object read is checked against its digest.
package flatten
