#!/usr/bin/env bash
# Side-by-side benchmark of Switchboard's request path against PostGraphile 4,
# in one run on one machine, so that the two can be compared honestly.
#
#   bench/sidebyside/run.sh [--rev COMMIT] [--duration 10s] [--runs 5] ...
#   make bench-sidebyside REV=... DURATION=... RUNS=...
#
# What it does, in order:
#   1. installs PostGraphile 4 (pinned by package-lock.json) under
#      .data/bench/postgraphile, and creates or reuses the database
#      sb_bench_pg with 100,000 member-like rows (pg-fixture.sql);
#   2. builds Switchboard (the working tree, or --rev in a temporary git
#      worktree), gives it a fresh database sb_bench_sb_<rev> migrated by the
#      binary itself, seeds the same rows with SQL (sb-seed.sql), starts it,
#      signs up one real user and adds 25 members to that user's account;
#   3. starts PostGraphile twice: plain, and with row-level security and a
#      role switch per request;
#   4. runs every operation with wrk, alternating Switchboard and
#      PostGraphile, --runs times, sampling CPU time of the server process
#      and of PostgreSQL around each run;
#   5. prints a Markdown table of medians (also saved as
#      .data/bench/results-<timestamp>.md).
# Everything it started is stopped on exit (trap).
#
# Needs: wrk (apt-get install -y wrk), node and npm, go, git, psql, curl, jq,
# and a PostgreSQL it can reach as a superuser (default: postgres on
# 127.0.0.1:5432, trust auth; override with --pg).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(git -C "$HERE" rev-parse --show-toplevel)
CACHE=$REPO/.data/bench
COMMAND_LINE=$(printf '%q ' "$0" "$@")
COMMAND_LINE=${COMMAND_LINE% }

# Defaults; see usage().
REV=""
DURATION=10s
RUNS=5
WARMUP=2s
THREADS=2
CONNECTIONS=32
DB_CONNS=20
SB_PORT=28080
PG_PLAIN_PORT=28081
PG_RLS_PORT=28082
SB_LOG_LEVEL=warn
KEEP_DB=""
PG_ADMIN_URL=postgres://postgres@127.0.0.1:5432
PG_DB=sb_bench_pg
RLS_ROLE=sb_bench_tenant

usage() {
  cat <<EOF
Usage: $0 [options]

  --rev COMMIT        build and measure Switchboard at COMMIT (in a temporary
                      git worktree under .data/bench); default: the working tree
  --duration D        length of each wrk run, as wrk takes it (default $DURATION)
  --runs N            repetitions of the whole sequence; medians are over these (default $RUNS)
  --warmup D          one unmeasured wrk run per operation first; 0 to skip (default $WARMUP)
  --threads N         wrk threads (default $THREADS)
  --connections N     wrk connections (default $CONNECTIONS)
  --db-conns N        database pool size of each server (default $DB_CONNS, Switchboard's default)
  --sb-log-level L    Switchboard's SWITCHBOARD_LOG_LEVEL (default $SB_LOG_LEVEL: no access log,
                      as PostGraphile runs without its query log)
  --ports A,B,C       Switchboard, PostGraphile plain, PostGraphile rls (default $SB_PORT,$PG_PLAIN_PORT,$PG_RLS_PORT)
  --pg URL            PostgreSQL superuser URL without database (default $PG_ADMIN_URL)
  --keep-db           keep Switchboard's database after the run, to look into it
                      (it is dropped otherwise: every run makes a fresh one)
EOF
}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

parse_args() {
  while [ $# -gt 0 ]; do
    case $1 in
      --rev) REV=${2:?}; shift 2 ;;
      --duration) DURATION=${2:?}; shift 2 ;;
      --runs) RUNS=${2:?}; shift 2 ;;
      --warmup) WARMUP=${2:?}; shift 2 ;;
      --threads) THREADS=${2:?}; shift 2 ;;
      --connections) CONNECTIONS=${2:?}; shift 2 ;;
      --db-conns) DB_CONNS=${2:?}; shift 2 ;;
      --sb-log-level) SB_LOG_LEVEL=${2:?}; shift 2 ;;
      --ports) IFS=, read -r SB_PORT PG_PLAIN_PORT PG_RLS_PORT <<<"${2:?}"; shift 2 ;;
      --pg) PG_ADMIN_URL=${2:?}; shift 2 ;;
      --keep-db) KEEP_DB=1; shift ;;
      -h|--help) usage; exit 0 ;;
      *) usage >&2; die "unknown argument: $1" ;;
    esac
  done
  [[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs wants a positive number"
}

# --- processes we start, and their clean-up -------------------------------

PIDS=()          # every background process this script started
TEMP_WORKTREE="" # the --rev worktree, removed on exit
DROP_DB=""       # Switchboard's database, dropped on exit unless --keep-db

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  local pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  # Give them a moment to shut down cleanly, then insist.
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    local alive=0
    for pid in "${PIDS[@]}"; do
      kill -0 "$pid" 2>/dev/null && alive=1
    done
    [ $alive = 0 ] && break
    sleep 0.5
  done
  for pid in "${PIDS[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ -n "$TEMP_WORKTREE" ]; then
    git -C "$REPO" worktree remove --force "$TEMP_WORKTREE" 2>/dev/null || true
  fi
  if [ -n "$DROP_DB" ] && [ -z "$KEEP_DB" ]; then
    psql_db postgres -c "DROP DATABASE IF EXISTS $DROP_DB WITH (FORCE)" 2>/dev/null || true
  fi
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CMD...: runs CMD in the background, logging to $LOGS/NAME.log,
# records its pid for the clean-up and leaves it in STARTED. CMD must be a
# program (env counts: it execs), not a shell function, so that the pid is
# the server's own and its /proc entry counts the server's CPU time.
start() {
  local name=$1; shift
  "$@" >"$LOGS/$name.log" 2>&1 &
  STARTED=$!
  PIDS+=("$STARTED")
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for NAME PID CMD...: until CMD succeeds; fails early if PID died.
wait_for() {
  local name=$1 pid=$2; shift 2
  for _ in $(seq 1 240); do
    "$@" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || { tail -20 "$LOGS/$name.log" >&2; die "$name exited during start-up"; }
    sleep 0.25
  done
  tail -20 "$LOGS/$name.log" >&2
  die "$name did not come up within 60 s"
}

# --- PostgreSQL helpers ------------------------------------------------------

db_url() { echo "$PG_ADMIN_URL/$1?sslmode=disable"; }
# Quiet (-q, and no NOTICEs such as "does not exist, skipping"), and
# stopping at the first error.
psql_db() { local db=$1; shift; PGOPTIONS='-c client_min_messages=warning' psql "$(db_url "$db")" -X -q -v ON_ERROR_STOP=1 "$@"; }

# --- 1. PostGraphile -------------------------------------------------------

setup_postgraphile() {
  local dir=$CACHE/postgraphile
  mkdir -p "$dir"
  # npm ci from the committed lock file: the same packages every time.
  # Reinstall only when the lock file changed.
  if ! cmp -s "$HERE/package-lock.json" "$dir/package-lock.json" || [ ! -d "$dir/node_modules/postgraphile" ]; then
    log "installing PostGraphile into $dir"
    cp "$HERE/package.json" "$HERE/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --omit=dev --no-audit --no-fund --loglevel=error) >&2
  fi
  PG_VERSION=$(node -p "require('$dir/node_modules/postgraphile/package.json').version")
}

# The fixture is keyed by a hash of its SQL: a changed fixture is rebuilt,
# an unchanged one is reused (building it is most of the set-up time).
setup_pg_database() {
  local mark
  mark="sidebyside fixture $(cat "$HERE/fixture-rows.sql" "$HERE/pg-fixture.sql" | sha256sum | cut -c1-16)"
  if [ -z "$(psql_db postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" ]; then
    psql_db postgres -c "CREATE DATABASE $PG_DB"
  fi
  local have
  have=$(psql_db "$PG_DB" -tAc "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = 'bench_rls'
                                  AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$RLS_ROLE')")
  if [ "$have" = "$mark" ]; then
    log "reusing database $PG_DB"
  else
    log "filling database $PG_DB"
    psql_db "$PG_DB" -v fixture_mark="$mark" -v rls_role="$RLS_ROLE" -f "$HERE/pg-fixture.sql"
  fi
  # Random accounts for the list queries: 100 of the 4,000, each with 25 rows.
  psql_db "$PG_DB" -tAc "SELECT DISTINCT account_id FROM bench.items ORDER BY account_id LIMIT 100" >"$RUNDIR/pg-accounts.txt"
}

# start_postgraphile MODE PORT: starts one variant; its pid is in STARTED.
start_postgraphile() {
  local mode=$1 port=$2
  start "postgraphile-$mode" env NODE_ENV=production NODE_PATH="$CACHE/postgraphile/node_modules" \
    DATABASE_URL="$(db_url "$PG_DB")" PORT="$port" BENCH_MODE="$mode" BENCH_PG_POOL="$DB_CONNS" BENCH_RLS_ROLE="$RLS_ROLE" \
    node "$HERE/postgraphile-server.js"
  # Ready when it answers a real list query with rows (the schema is built
  # by then, and the fixture is what the server sees).
  local account body
  account=$(head -1 "$RUNDIR/pg-accounts.txt")
  body=$(pg_list_body | sed "s/@ACCOUNT@/$account/")
  wait_for "postgraphile-$mode" "$STARTED" pg_answers "$port" "$account" "$body"
}

pg_answers() { # PORT ACCOUNT BODY: true when the list has 20 rows
  local n
  n=$(curl -fsS -H 'Content-Type: application/json' -H "X-Account-ID: $2" --data "$3" "http://127.0.0.1:$1/graphql" |
      jq '.data.allItems.nodes | length') || return 1
  [ "$n" = 20 ]
}

pg_list_body() {
  jq -cn '{query: "query($a: UUID!) { allItems(condition: {accountId: $a}, first: 20, orderBy: NAME_ASC) { nodes { id userId name email role createdAt lastSeenAt } } }",
           variables: {a: "@ACCOUNT@"}}'
}

# --- 2. Switchboard --------------------------------------------------------

# Builds the binary and sets SB_BIN, SB_LABEL (for names) and SB_DESC (for
# the report).
build_switchboard() {
  local src sha
  mkdir -p "$CACHE/bin"
  if [ -n "$REV" ]; then
    sha=$(git -C "$REPO" rev-parse --verify --quiet "$REV^{commit}") || die "--rev $REV is not a commit"
    SB_LABEL=${sha:0:12}
    src=$CACHE/src-$SB_LABEL
    # A worktree left by an interrupted run would block "worktree add".
    git -C "$REPO" worktree remove --force "$src" 2>/dev/null || rm -rf "$src"
    git -C "$REPO" worktree prune
    git -C "$REPO" worktree add --quiet --detach "$src" "$sha"
    TEMP_WORKTREE=$src
    SB_DESC="$(git -C "$REPO" log -1 --format='%h %s' "$sha") (--rev $REV)"
  else
    src=$REPO
    sha=$(git -C "$REPO" rev-parse HEAD)
    SB_LABEL=wt
    SB_DESC="working tree at $(git -C "$REPO" log -1 --format='%h %s' HEAD)"
    if [ -n "$(git -C "$REPO" status --porcelain --untracked-files=no)" ]; then
      SB_DESC+=" + uncommitted changes"
    fi
  fi
  SB_BIN=$CACHE/bin/switchboard-$SB_LABEL
  log "building Switchboard ($SB_DESC)"
  (cd "$src" && go build -o "$SB_BIN" .)
  if [ -n "$TEMP_WORKTREE" ]; then
    git -C "$REPO" worktree remove --force "$TEMP_WORKTREE"
    TEMP_WORKTREE=""
  fi
}

# A fresh database per run: the update benchmark writes to it, and a
# revision's migrations must be its own.
setup_sb_database() {
  SB_DB=sb_bench_sb_$SB_LABEL
  # The environment of every Switchboard process of the run: production
  # mode (JSON logs, no introspection), a throw-away secret key, no
  # migration on start (the migrate step does it, as a release step would).
  SB_ENV=(SWITCHBOARD_ENV=production DATABASE_URL="$(db_url "$SB_DB")" SWITCHBOARD_SECRET_KEY="$(head -c 32 /dev/urandom | base64)"
    SWITCHBOARD_DATA_DIR="$CACHE/sb-data" SWITCHBOARD_MIGRATE=false SWITCHBOARD_LOG_LEVEL="$SB_LOG_LEVEL"
    DATABASE_MAX_CONNS="$DB_CONNS" SWITCHBOARD_SHUTDOWN_TIMEOUT=2s PORT="$SB_PORT"
    SWITCHBOARD_PUBLIC_URL="http://127.0.0.1:$SB_PORT")
  psql_db postgres -c "DROP DATABASE IF EXISTS $SB_DB WITH (FORCE)"
  DROP_DB=$SB_DB
  log "migrating $SB_DB with switchboard migrate"
  env "${SB_ENV[@]}" "$SB_BIN" migrate >"$LOGS/switchboard-migrate.log" 2>&1 || { cat "$LOGS/switchboard-migrate.log" >&2; die "migrate failed"; }
  log "seeding $SB_DB"
  psql_db "$SB_DB" -f "$HERE/sb-seed.sql"
}

graphql_sb() { # BODY [HEADER...]: POST to Switchboard, print the answer
  local body=$1; shift
  local args=()
  local h
  for h in "$@"; do args+=(-H "$h"); done
  # No -f: an error answer is printed, for die to show.
  curl -sS -H 'Content-Type: application/json' "${args[@]}" --data "$body" "http://127.0.0.1:$SB_PORT/graphql"
}

start_switchboard() {
  start switchboard env "${SB_ENV[@]}" "$SB_BIN"
  SB_PID=$STARTED
  wait_for switchboard "$SB_PID" curl -fsS "http://127.0.0.1:$SB_PORT/readyz"
}

# One real login through the API. Switchboard keeps one active session per
# user, so this token is the only one, shared by every wrk connection.
sign_up() {
  local password answer
  password="bench-$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
  answer=$(graphql_sb "$(jq -cn --arg p "$password" '{
    query: "mutation($i: SignUpInput!) { signUp(input: $i) { token user { id } session { accountId } } }",
    variables: {i: {email: "bench-owner@example.com", password: $p, name: "Bench Owner", accountName: "Bench account"}}}')")
  SB_TOKEN=$(jq -r '.data.signUp.token // empty' <<<"$answer")
  SB_ACCOUNT=$(jq -r '.data.signUp.session.accountId // empty' <<<"$answer")
  if [ -z "$SB_TOKEN" ] || [ -z "$SB_ACCOUNT" ]; then die "signUp failed: $answer"; fi
  psql_db "$SB_DB" -tA -v account_id="$SB_ACCOUNT" -f "$HERE/sb-bench-account.sql" >"$RUNDIR/sb-members.txt"
  [ "$(wc -l <"$RUNDIR/sb-members.txt")" -ge 20 ] || die "expected at least 20 members in the bench account"
  # Check the fixture through the API before measuring anything.
  local n
  n=$(graphql_sb '{"query":"{ account { members(first: 20) { nodes { userId } } } }"}' \
      "Authorization: Bearer $SB_TOKEN" "X-Account-ID: $SB_ACCOUNT" | jq '.data.account.members.nodes | length')
  [ "$n" = 20 ] || die "members list answered $n members, want 20"
}

# --- 3. measuring ----------------------------------------------------------

CLK_TCK=$(getconf CLK_TCK)

# cpu_ticks PID...: utime + stime of the processes, in clock ticks. The
# comm field may hold spaces, so fields are counted after its ")".
cpu_ticks() {
  local pid total=0 stat rest
  for pid in "$@"; do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue # gone meanwhile
    rest=${stat##*) }
    read -r -a f <<<"$rest"
    total=$((total + f[11] + f[12]))
  done
  echo "$total"
}

# Every process of the PostgreSQL cluster: backends, WAL writer,
# checkpointer, plus the CPU of those that exited (connections closed,
# autovacuum workers), which the kernel adds to the postmaster's cutime and
# cstime when it reaps them: without that, a backend ending mid-run would
# make the difference negative. On a shared machine this includes other
# people's queries: measure on a quiet one. Empty when PostgreSQL is not a
# local process (--pg elsewhere).
pg_ticks() {
  [ -n "$POSTMASTER_PID" ] || return 0
  local stat rest pids
  stat=$(cat "/proc/$POSTMASTER_PID/stat") || return 0
  rest=${stat##*) }
  read -r -a f <<<"$rest"
  mapfile -t pids < <(pgrep -x postgres || true)
  echo $(($(cpu_ticks "${pids[@]}") + f[13] + f[14]))
}

# The postmaster's pid, from postmaster.pid in the data directory, if
# PostgreSQL runs on this machine.
find_postmaster() {
  local dir
  dir=$(psql_db postgres -tAc 'SHOW data_directory')
  POSTMASTER_PID=$(head -1 "$dir/postmaster.pid" 2>/dev/null || true)
  if [ -n "$POSTMASTER_PID" ] && [ "$(cat "/proc/$POSTMASTER_PID/comm" 2>/dev/null)" != postgres ]; then
    POSTMASTER_PID=""
  fi
  [ -n "$POSTMASTER_PID" ] || log "PostgreSQL is not a local process: its CPU will not be measured"
}

# How many client connections other databases of the cluster have now (from
# the process titles, which costs PostgreSQL nothing): the report says so,
# since their work lands in the PostgreSQL CPU column.
other_clients() {
  pgrep -af '^postgres: (.+: )?[^ ]+ [^ ]+ ([^ ]+\(|\[local\])' | grep -vcE "^[0-9]+ postgres: (.+: )?[^ ]+ ($PG_DB|$SB_DB) " || true
}

# Sum of switchboard_db_statements_total, or "" when the counter does not
# exist (not every revision has it).
sb_statements() {
  { curl -fsS "http://127.0.0.1:$SB_PORT/metrics" 2>/dev/null || true; } |
    awk '/^switchboard_db_statements_total[{ ]/ { s += $NF; found = 1 } END { if (found) printf "%.0f\n", s }'
}

# The operations, in the order each repetition runs them: Switchboard and
# PostGraphile alternate, and the members list sits between the two
# PostGraphile lists it is compared with, so drift hits all three alike.
OPS=(sb-typename pg-plain-list sb-members pg-rls-list sb-me sb-update-member)

# shellcheck disable=SC2016 # the backticks are Markdown
declare -A OP_DESC=(
  [sb-typename]='Switchboard `{ __typename }`'
  [sb-me]='Switchboard `{ me { id email } }`'
  [sb-members]='Switchboard `account { members(first: 20) }`'
  [sb-update-member]='Switchboard `updateMember` (random member, random name)'
  [pg-plain-list]='PostGraphile plain `allItems(first: 20)`'
  [pg-rls-list]='PostGraphile RLS `allItems(first: 20)`, role + setting per request'
)

# op_setup OP: sets URL, PID (the server process) and the BENCH_* variables
# request.lua reads.
op_setup() {
  unset BENCH_TOKEN BENCH_ACCOUNT BENCH_ACCOUNTS BENCH_MEMBERS
  case $1 in
    sb-*)
      URL=http://127.0.0.1:$SB_PORT/graphql PID=$SB_PID
      # Every Switchboard request carries the session and the account, as
      # the web client's do; __typename never looks at them.
      export BENCH_TOKEN=$SB_TOKEN BENCH_ACCOUNT=$SB_ACCOUNT ;;
    pg-plain-*) URL=http://127.0.0.1:$PG_PLAIN_PORT/graphql PID=$PG_PLAIN_PID ;;
    pg-rls-*) URL=http://127.0.0.1:$PG_RLS_PORT/graphql PID=$PG_RLS_PID ;;
  esac
  case $1 in
    sb-typename) BENCH_BODY='{"query":"{ __typename }"}' ;;
    sb-me) BENCH_BODY='{"query":"{ me { id email } }"}' ;;
    sb-members) BENCH_BODY='{"query":"{ account { members(first: 20) { nodes { userId name role { name } } } } }"}' ;;
    sb-update-member)
      BENCH_BODY=$(jq -cn '{query: "mutation($u: ID!, $n: String!) { updateMember(userId: $u, input: {name: $n}) { userId name } }",
                            variables: {u: "@MEMBER@", n: "@NAME@"}}')
      export BENCH_MEMBERS=$RUNDIR/sb-members.txt ;;
    pg-*-list) BENCH_BODY=$(pg_list_body); export BENCH_ACCOUNTS=$RUNDIR/pg-accounts.txt ;;
  esac
  export BENCH_BODY
}

# backends_of DB: pids of the PostgreSQL backends connected to DB now, read
# from their process titles ("postgres: [cluster: ]user db host(port) ..."),
# so that looking costs PostgreSQL nothing.
backends_of() { pgrep -f "^postgres: (.+: )?[^ ]+ $1 " | sort || true; }

# seconds D: a wrk duration (2s, 500ms, 1m, 10) in seconds.
seconds() {
  awk -v d="$1" 'BEGIN { n = d + 0; u = d; sub(/^[0-9.]+/, "", u)
    print n * (u == "ms" ? 0.001 : u == "m" ? 60 : u == "h" ? 3600 : 1) }'
}

# forget PID: drop PID from the clean-up list once it has exited, so that
# the trap never signals a pid the system has since given to someone else.
forget() {
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

# Columns of $RAW, one row per measured run.
declare -A COL=([op]=1 [run]=2 [rps]=3 [p50]=4 [p99]=5 [server]=6 [postgres]=7 [statements]=8 [opened]=9 [dropped]=10 [failed]=11 [requests]=12)

# measure OP RUN DURATION: one wrk run; appends a row to $RAW unless RUN is
# "warmup". Besides wrk's numbers: CPU ticks of the server and of
# PostgreSQL around the run; the statement counter; and the server's
# database connections before, in the middle of and after the run, which
# tell how many connections its pool opened during the run and how many of
# those were gone after it.
measure() {
  local op=$1 run=$2 duration=$3 db
  op_setup "$op"
  case $op in sb-*) db=$SB_DB ;; *) db=$PG_DB ;; esac
  local srv0 pg0 st0 srv1 pg1 st1 before mid after others
  before=$(backends_of "$db")
  st0=$(sb_statements); srv0=$(cpu_ticks "$PID"); pg0=$(pg_ticks)
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$duration" --timeout 10s -s "$HERE/request.lua" "$URL" >"$RUNDIR/wrk.out" 2>&1 &
  local wrk_pid=$!
  PIDS+=("$wrk_pid")
  sleep "$(awk -v s="$(seconds "$duration")" 'BEGIN { print s / 2 }')"
  mid=$(backends_of "$db")
  wait "$wrk_pid" || { cat "$RUNDIR/wrk.out" >&2; die "wrk failed for $op"; }
  forget "$wrk_pid"
  # When the run ended: the log summary tells errors of requests cut off by
  # wrk closing its connections from errors during the run.
  date +%s.%N >>"$RUNDIR/run-ends.txt"
  # Connections closed at the end of the run take a moment to exit and be
  # reaped (only then does their CPU reach the postmaster's cutime).
  sleep 0.5
  srv1=$(cpu_ticks "$PID"); pg1=$(pg_ticks); st1=$(sb_statements)
  after=$(backends_of "$db")
  others=$(other_clients)
  if [ "$others" -gt "$OTHER_CLIENTS_MAX" ]; then OTHER_CLIENTS_MAX=$others; fi
  local out
  out=$(cat "$RUNDIR/wrk.out")
  { echo "== $op run $run"; echo "$out"; } >>"$LOGS/wrk.log"
  if [ "$run" = warmup ]; then return 0; fi

  local result
  result=$(grep '^WRK_RESULT ' <<<"$out") || { echo "$out" >&2; die "no WRK_RESULT from wrk for $op"; }
  local requests duration_us p50_us p99_us socket_errors http_errors graphql_errors
  [[ $result =~ ^WRK_RESULT(\ [a-z_0-9]+=[0-9]+)+$ ]] || die "unexpected wrk output: $result"
  eval "${result#WRK_RESULT }" # name=number pairs only, checked above
  local errors=$((socket_errors + http_errors + graphql_errors))
  if [ "$errors" -gt 0 ]; then
    log "$op run $run: $errors failed answers ($(grep '^WRK_SAMPLE ' <<<"$out" | cut -c12-200))"
    grep '^WRK_SAMPLE ' <<<"$out" | sed "s/^/$op run $run: /" >>"$RUNDIR/error-samples.txt"
  fi
  local stmts=""
  if [ -n "$st0" ] && [ -n "$st1" ] && [ "$requests" -gt 0 ]; then
    stmts=$(awk -v a="$st0" -v b="$st1" -v n="$requests" 'BEGIN { printf "%.2f", (b - a) / n }')
  fi
  local opened dropped
  opened=$(comm -13 <(echo "$before") <(echo "$mid") | grep -c . || true)
  dropped=$(comm -23 <(echo "$mid") <(echo "$after") | grep -c . || true)
  # Same order as COL.
  awk -v OFS='\t' -v op="$op" -v run="$run" -v n="$requests" -v us="$duration_us" -v p50="$p50_us" -v p99="$p99_us" \
      -v srv=$((srv1 - srv0)) -v pg="${pg0:+$((pg1 - pg0))}" -v hz="$CLK_TCK" -v st="$stmts" \
      -v opened="$opened" -v dropped="$dropped" -v err="$errors" '
      function per_request(ticks) { return n ? sprintf("%.0f", ticks / hz * 1e6 / n) : "n/a" }
      BEGIN {
        print op, run, sprintf("%.0f", n / (us / 1e6)), sprintf("%.2f", p50 / 1000), sprintf("%.2f", p99 / 1000),
              per_request(srv), (pg == "" ? "n/a" : per_request(pg)), (st == "" ? "n/a" : st), opened, dropped, err, n
      }' >>"$RAW"
  log "$op run $run: $(tail -1 "$RAW" | cut -f"${COL[rps]}") rps, p50 $(tail -1 "$RAW" | cut -f"${COL[p50]}") ms"
}

# --- 4. report ---------------------------------------------------------------

# median OP COLUMN: the median of a column of $RAW (a name from COL) over
# the runs of OP ("n/a" when there is no number).
median() {
  awk -F'\t' -v op="$1" -v c="${COL[$2]}" '$1 == op && $c ~ /^-?[0-9.]+$/ { print $c }' "$RAW" | sort -g |
    awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
total() { awk -F'\t' -v op="$1" -v c="${COL[$2]}" '$1 == op { s += $c } END { print s + 0 }' "$RAW"; }
sum() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a") print "n/a"; else print a + b }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || b == 0) print "n/a"; else printf "%.2f×\n", a / b }'; }

report() {
  local op
  echo "# Switchboard and PostGraphile 4, side by side"
  echo
  echo "Medians of $RUNS run(s) of \`wrk -t$THREADS -c$CONNECTIONS -d$DURATION\` per operation (after one ${WARMUP} warm-up run each)."
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); set-up took ${SETUP_SECONDS} s"
  echo "- Command: \`$COMMAND_LINE\`"
  echo "- Machine: nproc $(nproc), $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(free -g | awk '/^Mem:/ { print $2 }') GiB, Linux $(uname -r); load average before the runs: $LOAD_BEFORE"
  echo "- Switchboard: $SB_DESC; $(go version | cut -d' ' -f3); production mode, log level $SB_LOG_LEVEL, DATABASE_MAX_CONNS $DB_CONNS"
  echo "- PostGraphile: $PG_VERSION as a library (bench/sidebyside/postgraphile-server.js), node $(node --version), pg pool $DB_CONNS, query log off"
  echo "- PostgreSQL: $(psql_db postgres -tAc 'SHOW server_version'); wrk: $(wrk --version 2>&1 | head -1 | cut -d' ' -f2)"
  echo "- Data: 100,000 member rows in 4,000 accounts (25 each) on both sides; Switchboard's account has 26 members, PostGraphile's lists pick one of 100 accounts per request"
  echo "- Order of each repetition: ${OPS[*]}"
  echo "- Other clients of this PostgreSQL (other databases) after the runs: at most $OTHER_CLIENTS_MAX connections$([ "$OTHER_CLIENTS_MAX" = 0 ] || echo '; their work is in the PostgreSQL CPU column')"
  echo
  echo "| Operation | rps | p50 ms | p99 ms | server CPU µs/req | PostgreSQL CPU µs/req | statements/req | DB connections opened / dropped | failed answers |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  for op in "${OPS[@]}"; do
    echo "| ${OP_DESC[$op]} | $(median "$op" rps) | $(median "$op" p50) | $(median "$op" p99) | $(median "$op" server) | $(median "$op" postgres) | $(median "$op" statements) | $(median "$op" opened) / $(median "$op" dropped) | $(total "$op" failed) of $(total "$op" requests) |"
  done
  echo
  echo "Switchboard's members list against PostGraphile's list (Switchboard ÷ PostGraphile; for before and after, run once per revision with --rev):"
  echo
  echo "| | vs plain | vs RLS |"
  echo "| --- | ---: | ---: |"
  local what
  for what in rps p50 p99; do
    echo "| $(case $what in rps) echo 'throughput (rps)' ;; *) echo "$what latency" ;; esac) | $(ratio "$(median sb-members $what)" "$(median pg-plain-list $what)") | $(ratio "$(median sb-members $what)" "$(median pg-rls-list $what)") |"
  done
  local sb_cpu
  sb_cpu=$(sum "$(median sb-members server)" "$(median sb-members postgres)")
  echo "| CPU per request, server + PostgreSQL | $(ratio "$sb_cpu" "$(sum "$(median pg-plain-list server)" "$(median pg-plain-list postgres)")") | $(ratio "$sb_cpu" "$(sum "$(median pg-rls-list server)" "$(median pg-rls-list postgres)")") |"
  echo
  if [ -z "$HAVE_STMT_COUNTER" ]; then
    echo "Statements per request: n/a (this Switchboard has no \`switchboard_db_statements_total\` on /metrics)."
    echo
  fi
  echo "CPU is utime + stime from /proc before and after each run, divided by the requests completed: the server's own process, and every process of the PostgreSQL cluster (backends, WAL writer, checkpointer, and those that exited meanwhile, through the postmaster's cutime; other databases' work too: measure on a quiet machine). wrk's own CPU is in neither."
  echo
  echo "DB connections: backends of the server's database that were not there before the run but were in its middle (opened), and of those, how many were gone half a second after it (dropped); a pool that keeps its connections shows 0 / 0 after the first run."
  echo
  log_summary
  echo
  echo "<details><summary>All runs</summary>"
  echo
  echo "| Operation | run | rps | p50 ms | p99 ms | server µs/req | PostgreSQL µs/req | statements/req | opened | dropped | failed | requests |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  sort -t$'\t' -k1,1 -k2,2n "$RAW" | awk -F'\t' '{ row = "|"; for (i = 1; i <= NF; i++) row = row " " $i " |"; print row }'
  echo
  echo "</details>"
}

# errors_at_run_ends LOG: how many ERROR lines of a JSON log fall within a
# second of a wrk run ending, when wrk closes its connections with requests
# still in flight, and how many do not (errors in steady state).
errors_at_run_ends() {
  jq -rR 'fromjson? | select(.level == "ERROR") | .time
          | (sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601) + ((capture("(?<f>\\.[0-9]+)Z$").f // "0") | tonumber)' "$1" |
    awk -v ends="$RUNDIR/run-ends.txt" '
      BEGIN { while ((getline e < ends) > 0) end[++n] = e }
      { at = 0; for (i = 1; i <= n; i++) if ($1 >= end[i] - 1 && $1 <= end[i] + 0.5) at = 1; if (at) a++; else d++ }
      END { printf "ERROR lines: %d within a second of a wrk run ending (requests cut off by its closing), %d at other times\n", a, d }'
}

# What the servers logged at warning level and above during the run.
log_summary() {
  local name f n
  echo "Server logs (warnings and errors; files under .data/bench/logs/$STAMP/):"
  echo
  for name in switchboard postgraphile-plain postgraphile-rls; do
    f=$LOGS/$name.log
    if [ "$name" = switchboard ]; then
      # JSON lines; count by level and message.
      n=$(jq -cR 'fromjson? | select(.level == "WARN" or .level == "ERROR")' "$f" | wc -l)
      echo "- $name: $n warning/error lines; $(errors_at_run_ends "$f")"
      jq -rR 'fromjson? | select(.level == "WARN" or .level == "ERROR") | "\(.level) \(.msg)\(if .err then ": " + (.err | tostring) else "" end)"' "$f" |
        sed 's/[0-9a-f]\{8\}-[0-9a-f-]\{27\}/<uuid>/g' | sort | uniq -c | sort -rn | head -5 |
        sed 's/^ *\([0-9]*\) \(.*\)$/  - \1 × "\2"/'
      n=$(grep -vc '^{' "$f" || true)
      if [ "$n" -gt 0 ]; then echo "  - $n lines that are not JSON (a panic?): see the file"; fi
    else
      n=$(grep -vc 'listening on' "$f" || true)
      echo "- $name: $n lines besides the start-up line"
    fi
  done
  if [ -s "$RUNDIR/error-samples.txt" ]; then
    echo
    echo "First failed answer of each run that had any:"
    echo
    sed 's/^/    /' "$RUNDIR/error-samples.txt" | cut -c1-300
  fi
}

# --- main --------------------------------------------------------------------

preflight() {
  local tool missing=()
  for tool in wrk node npm go git psql curl jq pgrep; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  [ ${#missing[@]} = 0 ] || die "missing: ${missing[*]} (wrk: apt-get install -y wrk)"
  psql_db postgres -tAc 'SELECT 1' >/dev/null || die "cannot reach PostgreSQL at $PG_ADMIN_URL as a superuser"
  local port
  for port in "$SB_PORT" "$PG_PLAIN_PORT" "$PG_RLS_PORT"; do
    port_free "$port" || die "port $port is in use (choose others with --ports)"
  done
}

main() {
  parse_args "$@"
  preflight
  STAMP=$(date -u +%Y%m%dT%H%M%SZ)
  LOGS=$CACHE/logs/$STAMP
  RUNDIR=$LOGS
  RAW=$RUNDIR/runs.tsv
  mkdir -p "$LOGS"
  : >"$RAW"

  setup_postgraphile
  setup_pg_database
  build_switchboard
  setup_sb_database
  start_switchboard
  sign_up
  start_postgraphile plain "$PG_PLAIN_PORT"
  PG_PLAIN_PID=$STARTED
  start_postgraphile rls "$PG_RLS_PORT"
  PG_RLS_PID=$STARTED
  HAVE_STMT_COUNTER=$(sb_statements)
  find_postmaster
  OTHER_CLIENTS_MAX=0
  SETUP_SECONDS=$SECONDS
  log "set-up done in ${SETUP_SECONDS} s"

  local op run
  if [ "$WARMUP" != 0 ]; then
    for op in "${OPS[@]}"; do measure "$op" warmup "$WARMUP"; done
  fi
  LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
  for run in $(seq 1 "$RUNS"); do
    for op in "${OPS[@]}"; do measure "$op" "$run" "$DURATION"; done
  done

  local results=$CACHE/results-$STAMP.md
  report | tee "$results"
  log "saved $results (raw runs and logs in $LOGS)"
}

main "$@"
