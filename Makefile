# The README's two commands: `make serve` and `make test`.
SHELL := /bin/bash
TOOLS := $(CURDIR)/.tools/bin

.PHONY: serve build test tools unit

serve:
	go run . serve

build:
	go build -o dfsreg .

tools:
	bash .ci/install-tools

# Everything: installs the pinned tools the tests drive, then every test:
# the main module, then the Storj suites (nested module test/storj) against
# Storj's in-process test network on a PostgreSQL cluster .ci/postgres starts.
# `go mod download` first: the release test cross-builds for darwin offline
# (GOPROXY=off), and a linux build alone never fetches darwin-only modules.
test: tools
	go mod download
	PATH="$(TOOLS):$$PATH" TEST_REQUIRE_TOOLS=1 go test -count=1 -timeout 30m ./...
	exports="$$(bash .ci/postgres)" && eval "$$exports" && cd test/storj && PATH="$(TOOLS):$$PATH" TEST_REQUIRE_TOOLS=1 go test -count=1 -timeout 40m ./...

# Unit tests only, no external tools.
unit:
	go test -count=1 ./...
