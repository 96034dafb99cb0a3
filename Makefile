# Switchboard. `make run` serves the gateway on the development defaults;
# `make test` runs every test against a real PostgreSQL (found on
# 127.0.0.1:5432 or started under .data/).
GO ?= go

.PHONY: run seed-demo build test test-loop lint generate generate-check bench bench-sidebyside

run:
	$(GO) run .

# Creates a demo organisation (or resets its password) and prints how to
# sign in.
seed-demo:
	$(GO) run . seed-demo

build:
	$(GO) build -o bin/switchboard .

test:
	$(GO) test -race -shuffle=on -count=1 -timeout 15m ./...

# The suite twenty times in a row under CPU load, to catch flaky tests
# before CI does (about half an hour; LOOP=n for fewer).
test-loop:
	./scripts/test-loop.sh

lint:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './.data/*' -not -path './.git/*')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# gqlgen writes graph/generated.go and graph/model/models_gen.go from
# graph/*.graphqls. Resolvers are hand-written against the generated
# interfaces, so this never touches them.
generate:
	$(GO) tool gqlgen generate

# Fails when the committed generated code is not what `make generate`
# produces from the committed schema.
generate-check: generate
	@git diff --exit-code --stat -- graph gqlgen.yml || \
		{ echo "generated code is stale: run 'make generate' and commit the result"; exit 1; }
	@untracked=$$(git ls-files --others --exclude-standard -- graph); \
	if [ -n "$$untracked" ]; then echo "untracked generated files: $$untracked"; exit 1; fi

# Benchmarks: run each several times and take medians (benchstat does).
# The README lists the settings each benchmark wants, for example
#   make bench BENCH=EvictionLatency BENCHTIME=1000x BENCHCOUNT=5
BENCH ?= .
BENCHTIME ?= 1s
BENCHCOUNT ?= 6
bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -benchmem -count=$(BENCHCOUNT) -timeout 60m ./...

# Switchboard's request path against PostGraphile 4, side by side (README,
# "Side by side with PostGraphile"): REV to measure a commit instead of the
# working tree, DURATION of each wrk run, RUNS repetitions for medians.
REV ?=
DURATION ?= 10s
RUNS ?= 5
bench-sidebyside:
	@bench/sidebyside/run.sh $(if $(REV),--rev $(REV) )--duration $(DURATION) --runs $(RUNS)
