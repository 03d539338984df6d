// Package e2e holds end-to-end tests of the dfsreg binary: they build it,
// run `dfsreg serve` as a subprocess on a loopback port and drive it with raw
// HTTP, to check what only a real process shows: durability across kill -9,
// graceful shutdown on SIGTERM, and the memory the server uses while large
// blobs stream through it.
//
// It has no code of its own; everything is in its _test.go files.
package e2e
