# Switchboard. `make run` serves the gateway on the development defaults;
# `make test` runs every test against a real PostgreSQL (found on
# 127.0.0.1:5432 or started under .data/).
GO ?= go

.PHONY: run seed-demo seed-scale bench-search build test test-loop lint generate generate-check bench bench-sidebyside

run:
	$(GO) run .

# Creates a demo organisation (or resets its password) and prints how to
# sign in.
seed-demo:
	$(GO) run . seed-demo

# Builds the benchmark dataset (1,000 accounts, 1,000,000 contacts, 200,000
# companies, 300,000 deals, 2,000,000 mail messages, and a viewer in 50
# accounts) into a database named after its parameters, on the server of
# DATABASE_URL (or the development one), and prints its URL; when a
# complete build is there, it only prints the URL. About four minutes here;
# GENERATE_FLAGS=-small for a fiftieth of it in seconds (`go run .
# generate -h` lists the flags). README, "The benchmark dataset".
GENERATE_FLAGS ?=
seed-scale:
	$(GO) run . generate $(GENERATE_FLAGS)

# Search at scale (README, benchmarks): builds the dataset once (as
# seed-scale does; reused after) and runs BenchmarkSearchAtScale and
# BenchmarkScaleOverHTTP on it, one package at a time (both sign the
# viewer in, and a sign-in ends the other's session).
SEARCH_BENCHTIME ?= 300x
bench-search:
	@url=$$($(GO) run . generate $(GENERATE_FLAGS)) && \
	SWITCHBOARD_SCALE_DATABASE_URL=$$url $(GO) test -p 1 -run '^$$' -bench 'SearchAtScale|ScaleOverHTTP' -benchtime $(SEARCH_BENCHTIME) \
		-count=$(BENCHCOUNT) -timeout 60m -v ./db ./resolvers

build:
	$(GO) build -o bin/switchboard .

test:
	./scripts/with-nats.sh $(GO) test -race -shuffle=on -count=1 -timeout 15m ./...

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
