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

# Everything: installs the pinned tools the tests drive, then every test.
test: tools
	PATH="$(TOOLS):$$PATH" TEST_REQUIRE_TOOLS=1 go test -count=1 -timeout 30m ./...

# Unit tests only, no external tools.
unit:
	go test -count=1 ./...
