// Package storjtest runs dfsreg's storage and HTTP suites against a real
// Storj network (testplanet) in a module of its own, so that storj.io/storj
// and its dependencies stay out of the main module's graph.
package storjtest
