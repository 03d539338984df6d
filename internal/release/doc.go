// Package release tests the release configuration, .goreleaser.yaml at the
// root of the module: goreleaser checks it and builds a snapshot release,
// whose binaries, archives and checksums the test inspects. It has no code
// of its own.
package release
