# Legato — common tasks. `make help` lists them.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
BIN     := bin/legato

.PHONY: help build run test test-short lint vet fmt verify generate bench bench-go clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/legato
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/legato

run: build ## start a server on 127.0.0.1:8420 with the examples applied (data in .legato/)
	$(BIN) server --data .legato --apply examples

test: vet ## run every test with the race detector (the CI command)
	$(GO) test -race -count=1 -timeout 30m ./...

test-short: ## run the tests without the slow end-to-end ones
	$(GO) test -short -count=1 ./...

vet: ## go vet
	$(GO) vet ./...

fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')

lint: vet ## gofmt check and vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

verify: lint test ## everything CI checks

generate: ## regenerate generated files (golden files of the spec tests)
	$(GO) test ./internal/spec -run Golden -update

bench: ## run the benchmark harness against a real server (go run ./bench; QUICK=1 for the short suite)
	$(GO) run ./bench $(if $(QUICK),--quick)

bench-go: ## run the Go benchmarks (engine and stores)
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...

clean: ## remove build output
	rm -rf bin
