#!/usr/bin/env bash
# The load harness of issue 12: Switchyard's full click path against nginx's
# `return 302` and a bare axum 302, on a realistic catalog, interleaved for
# several rounds so that the machine's noise shows as a spread, not as a result.
#
#   benches/load/harness.sh                    # ROUNDS=3 DURATION=10s, ~10 minutes
#   ROUNDS=2 DURATION=5s benches/load/harness.sh
#   TARGETS="nginx_302 sy_pg_c" LATENCY=0 benches/load/harness.sh
#
# What it does (see README, "Load harness"):
# 1. builds `switchyard` and `examples/bare_redirect` in release;
# 2. starts a private Postgres cluster (initdb in a temp dir, port PG_PORT) and a
#    private Redis (port REDIS_PORT), both pinned to core 1, and loads the bench
#    catalog that catalog.py generates (1,000 offers, 100 smart links, 20 active
#    rules, caps, approvals for 50 partners) plus 20,000-request lists with
#    varied partners, sub ids, client IPs (X-Forwarded-For from a trusted proxy)
#    and a few hundred real user agents from uap-core's test cases;
# 3. for each round, each target in turn: start it pinned to core 0 (one worker),
#    saturate it with wrk pinned to core 1 for DURATION, read its CPU time and
#    peak RSS from /proc, stop it with SIGTERM; for the Postgres targets also
#    count the rows in `clicks` after that clean shutdown and the CPU the whole
#    Postgres cluster used;
# 4. latency: each target again, at 25%, 50% and 90% of its median saturation
#    rate, with oha's constant-rate mode (no coordinated omission);
# 5. prints the tables (report.py): medians and min-max over rounds.
#
# Targets: nginx_302, axum_302, sy_file_mix (events to a file), sy_pg_c (direct
# clicks to Postgres), sy_pg_sl (smart-link clicks), sy_pg_redis_mix (Postgres,
# counters in Redis), sy_pg_c_noidx (sy_pg_c with the non-essential `clicks`
# indexes dropped, for what those indexes cost Postgres).
#
# Needs: wrk, nginx (apt-get install wrk nginx-light), PostgreSQL server binaries
# (15), redis-server, python3, oha (cargo install oha --locked) for the latency
# part, root or the `postgres` user. Ports 18300-18349 and PG_PORT. Not in CI.
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
LATENCY=${LATENCY:-1}
TARGETS=${TARGETS:-nginx_302 axum_302 sy_file_mix sy_pg_c sy_pg_sl sy_pg_redis_mix sy_pg_c_noidx}
PG_PORT=${PG_PORT:-5498}
REDIS_PORT=${REDIS_PORT:-18349}
PGBIN=${PGBIN:-$(printf "%s\n" /usr/lib/postgresql/*/bin | sort -V | tail -n 1)}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BIN=$TARGET_DIR/release/switchyard
# Indexes on `clicks` that only reports read; the primary key (the idempotency
# key of the batch writer) stays. From migrations/0002_events.sql.
OPTIONAL_INDEXES=(
  "clicks_created_brin ON clicks USING brin (created_at)"
  "clicks_offer_time_idx ON clicks (offer_id, created_at) WHERE offer_id IS NOT NULL"
  "clicks_partner_time_idx ON clicks (partner_id, created_at)"
  "clicks_smart_link_time_idx ON clicks (smart_link_id, created_at) WHERE smart_link_id IS NOT NULL"
)

WORK=$(mktemp -d /tmp/switchyard-harness.XXXXXX)
chmod 755 "$WORK"
PGDATA=$WORK/pg
DB_URL="postgres://postgres@127.0.0.1:$PG_PORT/switchyard_bench"
REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
RESULTS=$WORK/results.tsv   # round target rps per_cpu requests non3xx errors hwm_kb rows pg_cpu
LATENCIES=$WORK/latency.tsv # target share rate oha-json

server_pid=     # the process whose CPU is measured (nginx: its one worker)
stop_pid=       # the process to SIGTERM
redis_pid=

as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

cleanup() {
  set +e
  [[ -n $stop_pid ]] && kill "$stop_pid" 2>/dev/null
  [[ -n $redis_pid ]] && kill "$redis_pid" 2>/dev/null
  as_pg "$PGBIN/pg_ctl" -D "$PGDATA" stop -m immediate >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- set-up -------------------------------------------------------------------

check_tools() {
  local tool missing=()
  for tool in wrk nginx redis-server python3 psql taskset curl; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  [[ -x $PGBIN/initdb ]] || missing+=("$PGBIN/initdb")
  if ((${#missing[@]})); then
    echo "missing: ${missing[*]}" >&2
    exit 1
  fi
  if [[ $LATENCY == 1 ]] && ! command -v oha >/dev/null; then
    echo "oha not found (cargo install oha --locked): latency part skipped" >&2
    LATENCY=0
  fi
}

# uap-core's test cases: the checkout in data/ if it has them, else the copy the
# ua-parser crate (a dependency, so already fetched by the build) ships.
ua_file() {
  local found
  for found in "${UA_FILE:-}" data/uap-core/tests/test_ua.yaml \
    "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/ua-parser-*/uap-core/tests/test_ua.yaml; do
    [[ -n $found && -f $found ]] && { echo "$found"; return; }
  done
  echo "no uap-core tests/test_ua.yaml found; set UA_FILE" >&2
  exit 1
}

build() {
  nice -n 5 cargo build --release --locked --quiet --bin switchyard --example bare_redirect
}

# Postgres on core 1 with wrk: core 0 is the server's alone, and a private
# cluster makes "the CPU Postgres spent" the sum over its own processes.
start_postgres() {
  mkdir -p "$PGDATA"
  chown postgres "$PGDATA" 2>/dev/null || true
  as_pg "$PGBIN/initdb" -D "$PGDATA" -A trust -U postgres >/dev/null
  as_pg taskset -c 1 "$PGBIN/pg_ctl" -D "$PGDATA" -o "-p $PG_PORT -k $PGDATA" -l "$PGDATA/log" start -w >/dev/null
  psql "postgres://postgres@127.0.0.1:$PG_PORT/postgres" -qc "create database switchyard_bench"
  "$BIN" migrate --database-url "$DB_URL" >/dev/null
  psql "$DB_URL" -q -v ON_ERROR_STOP=1 -f "$WORK/catalog.sql" >/dev/null
}

start_redis() {
  taskset -c 1 redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --daemonize no >"$WORK/redis.log" 2>&1 &
  redis_pid=$!
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return; sleep 0.1; done
  echo "redis did not start (is port $REDIS_PORT taken?)" >&2
  exit 1
}

# --- measuring ------------------------------------------------------------------

# CPU seconds (user + system) a process has used, from /proc/PID/stat.
cpu_seconds() {
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"
}

# CPU seconds of the whole Postgres cluster: the postmaster with the children it
# has reaped (cutime, cstime: backends that exited), plus the living children.
postgres_cpu_seconds() {
  local postmaster
  postmaster=$(head -n 1 "$PGDATA/postmaster.pid")
  { awk '{ print $14 + $15 + $16 + $17 }' "/proc/$postmaster/stat"
    for child in $(pgrep -P "$postmaster"); do
      awk '{ print $14 + $15 }' "/proc/$child/stat" 2>/dev/null || true
    done
  } | awk -v hz="$(getconf CLK_TCK)" '{ s += $1 } END { printf "%.2f", s / hz }'
}

peak_rss_kb() { awk '/^VmHWM/ { print $2 }' "/proc/$1/status"; }

rows_written() { psql "$DB_URL" -qAtc "select count(*) from clicks"; }

port_of() { # target: each its own port, so no TIME_WAIT of one run slows the next
  local i=0 t
  for t in nginx_302 axum_302 sy_file_mix sy_pg_c sy_pg_sl sy_pg_redis_mix sy_pg_c_noidx; do
    [[ $t == "$1" ]] && { echo $((18300 + i)); return; }
    i=$((i + 1))
  done
  echo "unknown target $1" >&2
  exit 2
}

requests_of() { # target: which request list it is sent
  case $1 in
    *_c | *_c_noidx) echo "$WORK/c.tsv" ;;
    *_sl) echo "$WORK/sl.tsv" ;;
    *) echo "$WORK/mix.tsv" ;;
  esac
}

uses_postgres() { [[ $1 == sy_pg_* ]]; }

wait_ready() { # url pid
  for _ in $(seq 100); do
    curl -sf -o /dev/null "$1" && return
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  echo "the server behind $1 did not start" >&2
  tail -n 20 "$WORK/server.log" >&2
  exit 1
}

# Starts a target on core 0 with one worker; sets server_pid and stop_pid.
start_target() {
  local target=$1 port
  port=$(port_of "$target")
  case $target in
    nginx_302)
      sed -e "s/127.0.0.1:18083/127.0.0.1:$port/" -e "s|/tmp/switchyard-bench-nginx|$WORK/nginx|g" \
        benches/load/nginx.conf >"$WORK/nginx.conf"
      taskset -c 0 nginx -c "$WORK/nginx.conf" >"$WORK/server.log" 2>&1 &
      stop_pid=$!
      wait_ready "http://127.0.0.1:$port/" "$stop_pid"
      # The one worker does the serving (worker_processes 1).
      server_pid=$(pgrep -P "$stop_pid" | head -n 1)
      ;;
    axum_302)
      taskset -c 0 env TOKIO_WORKER_THREADS=1 "$TARGET_DIR/release/examples/bare_redirect" "127.0.0.1:$port" \
        >"$WORK/server.log" 2>&1 &
      stop_pid=$!
      server_pid=$stop_pid
      wait_ready "http://127.0.0.1:$port/c?oid=1&affid=1" "$stop_pid"
      ;;
    sy_*)
      local vars=(TOKIO_WORKER_THREADS=1 SWITCHYARD_ADMIN_LISTEN=off RUST_LOG=warn
        SWITCHYARD_TRUSTED_PROXIES=127.0.0.1/32 SWITCHYARD_SPILL_DIR="$WORK/spill-$target")
      local args=(serve --listen "127.0.0.1:$port")
      if uses_postgres "$target"; then
        vars+=(DATABASE_URL="$DB_URL")
        # Empty, so rows after shutdown are this run's clicks and nothing else.
        psql "$DB_URL" -qc "truncate clicks"
      else
        args+=(--events-file "$WORK/events.jsonl" --catalog-file "$WORK/catalog.yaml")
      fi
      if [[ $target == *redis* ]]; then
        vars+=(SWITCHYARD_REDIS_URL="$REDIS_URL")
        # Recency and rate-limit keys of the last round would discard this one's clicks.
        redis-cli -p "$REDIS_PORT" flushall >/dev/null
      fi
      [[ $target == *_noidx ]] && drop_optional_indexes
      taskset -c 0 env "${vars[@]}" "$BIN" "${args[@]}" >"$WORK/server.log" 2>&1 &
      stop_pid=$!
      server_pid=$stop_pid
      wait_ready "http://127.0.0.1:$port/readyz" "$stop_pid"
      ;;
  esac
}

# SIGTERM and wait: a Switchyard target flushes its events before it exits.
stop_target() {
  kill -TERM "$stop_pid" 2>/dev/null || true
  wait "$stop_pid" 2>/dev/null || true
  stop_pid=
}

drop_optional_indexes() {
  local index
  for index in "${OPTIONAL_INDEXES[@]}"; do
    psql "$DB_URL" -qc "drop index ${index%% *}"
  done
}

restore_optional_indexes() {
  local index
  psql "$DB_URL" -qc "truncate clicks"
  for index in "${OPTIONAL_INDEXES[@]}"; do
    psql "$DB_URL" -qc "create index $index"
  done
}

# One saturation run: appends a row to RESULTS.
saturate() {
  local round=$1 target=$2 port out cpu0 cpu1 pg0=0 pg1=0 hwm rows=- pg_cpu=-
  port=$(port_of "$target")
  out=$WORK/wrk-$round-$target.txt
  start_target "$target"
  sleep 0.5
  cpu0=$(cpu_seconds "$server_pid")
  uses_postgres "$target" && pg0=$(postgres_cpu_seconds)
  REQUESTS=$(requests_of "$target") taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" \
    -s benches/load/requests.lua "http://127.0.0.1:$port" >"$out"
  cpu1=$(cpu_seconds "$server_pid")
  hwm=$(peak_rss_kb "$server_pid")
  stop_target "$target"
  if uses_postgres "$target"; then
    # After the clean shutdown: every click the server answered should be a row.
    rows=$(rows_written)
    pg1=$(postgres_cpu_seconds)
    pg_cpu=$(awk -v a="$pg0" -v b="$pg1" 'BEGIN { printf "%.2f", b - a }')
    psql "$DB_URL" -qAtF $'\t' -c "select '$round', '$target', coalesce(discard_rule, 'redirected'), count(*)
      from clicks group by 3" >>"$WORK/outcomes.tsv"
    [[ $target == *_noidx ]] && restore_optional_indexes
  fi
  awk -v round="$round" -v target="$target" -v cpu="$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { print b - a }')" \
    -v hwm="$hwm" -v rows="$rows" -v pg="$pg_cpu" '
    /Requests\/sec/ { rps = $2 }
    /requests in/ { requests = $1 }
    /Non-2xx or 3xx/ { non3xx = $5 }
    /Socket errors/ { gsub(",", ""); errors = $4 + $6 + $8 + $10 }
    END { printf "%s\t%s\t%s\t%.0f\t%s\t%d\t%d\t%s\t%s\t%s\n", round, target, rps, requests / cpu, requests,
          non3xx, errors, hwm, rows, pg }' "$out" >>"$RESULTS"
  printf '  round %s %-18s %s\n' "$round" "$target" "$(tail -n 1 "$RESULTS" | cut -f3,4,6 |
    awk '{ printf "%9.0f req/s %9d req/CPU-s  non-3xx %d", $1, $2, $3 }')"
}

# Constant-rate latency at a share of the target's median saturation rate.
latency() {
  local target=$1 share=$2 port rate urls
  port=$(port_of "$target")
  rate=$(awk -v t="$target" -v s="$share" '$2 == t { print $3 }' "$RESULTS" | sort -n |
    awk -v s="$share" '{ v[NR] = $1 } END { printf "%.0f", v[int((NR + 1) / 2)] * s / 100 }')
  urls=$WORK/urls-$target.txt
  [[ -f $urls ]] || cut -f1 "$(requests_of "$target")" | sed "s|^|http://127.0.0.1:$port|" >"$urls"
  start_target "$target"
  sleep 0.5
  # oha sends one set of headers for a whole run: one real browser, one client
  # IP (the per-IP rules see a single client; report.py shows the discards).
  taskset -c 1 oha --no-tui --output-format json -z "$DURATION" -q "$rate" -c "$CONNECTIONS" \
    --latency-correction --urls-from-file "$urls" \
    -H "User-Agent: $(sed -n 1p "$WORK/uas.txt")" -H "X-Forwarded-For: 203.0.113.7" \
    -H "Accept-Language: en-US,en;q=0.8" >"$WORK/oha-$target-$share.json"
  stop_target "$target"
  printf '%s\t%s\t%s\t%s\n' "$target" "$share" "$rate" "$WORK/oha-$target-$share.json" >>"$LATENCIES"
  echo "  latency $target at $share% ($rate req/s) done"
}

# --- the run --------------------------------------------------------------------

main() {
  check_tools
  echo "building (release)..."
  build
  python3 benches/load/catalog.py "$(ua_file)" "$WORK"
  start_postgres
  start_redis
  : >"$RESULTS"
  : >"$LATENCIES"
  : >"$WORK/outcomes.tsv"
  read -r -a targets <<<"$TARGETS"
  local round i n=${#targets[@]}
  echo "saturation: $ROUNDS rounds of $DURATION per target, $CONNECTIONS connections (load 1: $(cut -d' ' -f1 /proc/loadavg))"
  for round in $(seq "$ROUNDS"); do
    # Each round starts one target later, so no target always runs first.
    for i in $(seq 0 $((n - 1))); do
      saturate "$round" "${targets[$(((i + round - 1) % n))]}"
    done
  done
  if [[ $LATENCY == 1 ]]; then
    echo "latency at 25/50/90% of each target's median rate, $DURATION each (oha, constant rate)"
    local target share
    for target in "${targets[@]}"; do
      [[ $target == *_noidx ]] && continue
      for share in 25 50 90; do latency "$target" "$share"; done
    done
  fi
  echo
  python3 benches/load/report.py "$RESULTS" "$LATENCIES" "$WORK/outcomes.tsv" "$CONNECTIONS"
  echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
}

main "$@"
