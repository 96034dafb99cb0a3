#!/usr/bin/env bash
# Runs the whole suite LOOP times in a row (default 20) while busy loops load
# every core, and stops at the first failure. A test that fails once in
# twenty runs is a bug, in the test or in the code: CI will meet it, so meet
# it here first. `make test-loop` runs this; `LOOP=5 make test-loop` fewer.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${LOOP:-20}
load=${LOAD:-$(nproc)}
logdir=.data/test-loop
mkdir -p "$logdir"

pids=()
stop_load() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; }
trap stop_load EXIT
for _ in $(seq 1 "$load"); do
	( while :; do :; done ) &
	pids+=($!)
done
echo "loading $load cores; running the suite $runs times (logs in $logdir)"

for i in $(seq 1 "$runs"); do
	start=$(date +%s)
	if ./scripts/with-nats.sh go test -race -shuffle=on -count=1 -timeout 20m ./... >"$logdir/run-$i.log" 2>&1; then
		echo "run $i/$runs passed in $(( $(date +%s) - start ))s"
	else
		echo "run $i/$runs FAILED after $(( $(date +%s) - start ))s; see $logdir/run-$i.log:"
		grep -E '^(--- FAIL|FAIL|panic:)' "$logdir/run-$i.log" | head -20
		exit 1
	fi
done
echo "all $runs runs passed"
