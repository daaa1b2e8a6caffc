.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z/]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

test: ## the whole test suite, with the race detector (needs Redis on 127.0.0.1:6379, sshd, gpg: see .ci/run)
	go test -race -count=1 -timeout 20m ./...

test/short: ## the suite without the race detector
	go test -count=1 ./...

bench: ## Go benchmarks beside the code
	go test -run '^$$' -bench . -benchmem ./...

# staticcheck is pinned here; `go run` caches the built tool and staticcheck
# its analysis in the user cache directory, so only a cold cache pays for
# downloading and building it.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

lint: ## gofmt, go vet and staticcheck
	@unformatted="$$(gofmt -l $$(git ls-files '*.go'))"; test -z "$$unformatted" || { echo "gofmt would change:"; echo "$$unformatted"; exit 1; }
	go vet ./...
	go run $(STATICCHECK) ./...

tidy: ## go mod tidy
	go mod tidy

FUZZTIME ?= 5s

fuzz: ## run each fuzz target for FUZZTIME (default 5s, or a count such as 100000x): rules, collect bodies, CSV files, PROXY headers
	go test -run '^$$' -fuzz '^FuzzParseRule$$' -fuzztime $(FUZZTIME) ./internal/audiences
	go test -run '^$$' -fuzz '^FuzzParseRecords$$' -fuzztime $(FUZZTIME) ./internal/ingest
	go test -run '^$$' -fuzz '^FuzzParseFlat$$' -fuzztime $(FUZZTIME) ./internal/ingest
	go test -run '^$$' -fuzz '^FuzzStage$$' -fuzztime $(FUZZTIME) ./internal/csvimport
	go test -run '^$$' -fuzz '^FuzzRead$$' -fuzztime $(FUZZTIME) ./internal/proxyproto

build: ## the brazesync binary in ./bin
	go build -o bin/brazesync ./cmd/brazesync

.PHONY: help test test/short bench lint tidy build fuzz
