// Package tdfs builds 2DFS images the way the reference builder tdfs does:
// allotment blobs from a 2dfs.json, the field JSON, and the base image's
// manifests with the field layer appended, wrapped in an index (see
// ../../../shared/specs/2dfs.md §1).
//
// Allotment blobs are byte-compatible with tdfs: one tar per allotment with
// one regular-file entry per source file (name = dst verbatim, mtime
// 2000-01-01T00:00:00Z), gzip at Go's default level with an empty header.
// Same files give the same digests. Unlike tdfs, entries are owned by
// root (uid/gid 0) unless Options.KeepOwner asks for the source files'
// owners, so a build does not depend on who runs it; for files owned by root
// both agree.
//
// The package reads files and writes blobs to a spool directory; it never
// prints or exits.
package tdfs
