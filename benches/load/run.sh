#!/usr/bin/env bash
# Load test: nginx `return 302`, a bare axum 302, and Switchyard's full click path
# (params, catalog, rules, counters, macro expansion, event logged), each pinned to
# core 0 with one worker, wrk pinned to core 1. Prints requests/s per target and
# the ratio to nginx, all from one run (this machine is shared and noisy).
# Needs: wrk, nginx (apt-get install wrk nginx-light), a release build, and for
# the Postgres run a reachable DATABASE_URL server (default local trust auth).
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
ADMIN_URL=${ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
BENCH_DB=switchyard_bench

cargo build --release --quiet --bin switchyard --example bare_redirect
BIN=target/release/switchyard
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# CPU seconds (user + system) a process has used so far, from /proc.
cpu_seconds() {
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$1/stat"
}

measure() { # name url pid
  sleep 0.5
  local cpu_before cpu_after
  cpu_before=$(cpu_seconds "$3")
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" "$2" > "/tmp/wrk-$1.txt"
  cpu_after=$(cpu_seconds "$3")
  local rps requests per_cpu
  rps=$(awk '/Requests\/sec/ {print $2}' "/tmp/wrk-$1.txt")
  requests=$(awk '/requests in/ {print $1}' "/tmp/wrk-$1.txt")
  per_cpu=$(awk -v r="$requests" -v a="$cpu_before" -v b="$cpu_after" 'BEGIN { printf "%.0f", r / (b - a) }')
  local non3xx
  non3xx=$(awk '/Non-2xx or 3xx/ {print $5}' "/tmp/wrk-$1.txt")
  echo "$1 $rps $per_cpu ${non3xx:-0}" >> /tmp/wrk-summary.txt
  printf '%-28s %10s req/s  %8s req per CPU-second  (non-2xx/3xx: %s)\n' "$1" "$rps" "$per_cpu" "${non3xx:-0}"
}

rm -f /tmp/wrk-summary.txt
taskset -c 0 nginx -c "$PWD/benches/load/nginx.conf" & pids+=($!)
sleep 0.5
# The worker does the serving (one worker, see nginx.conf).
measure nginx_302 "http://127.0.0.1:18083/c?oid=1&affid=1" "$(pgrep -f 'nginx: worker' | head -n 1)"

taskset -c 0 env TOKIO_WORKER_THREADS=1 target/release/examples/bare_redirect 127.0.0.1:18082 & pids+=($!)
measure axum_bare_302 "http://127.0.0.1:18082/c?oid=1&affid=1" "$!"

events=$(mktemp)
taskset -c 0 env TOKIO_WORKER_THREADS=1 SWITCHYARD_ADMIN_LISTEN=127.0.0.1:18087 RUST_LOG=warn "$BIN" serve --listen 127.0.0.1:18084 --events-file "$events" & pids+=($!)
measure switchyard_file_log "http://127.0.0.1:18084/c?oid=1&affid=1&sub1=bench&sub2=x" "$!"

psql "$ADMIN_URL" -qc "drop database if exists $BENCH_DB with (force)" -c "create database $BENCH_DB"
DB_URL="${ADMIN_URL%/*}/$BENCH_DB"
"$BIN" migrate --database-url "$DB_URL" >/dev/null
psql "$DB_URL" -q -f benches/load/one-offer.sql
taskset -c 0 env TOKIO_WORKER_THREADS=1 SWITCHYARD_ADMIN_LISTEN=127.0.0.1:18088 RUST_LOG=warn DATABASE_URL="$DB_URL" "$BIN" serve --listen 127.0.0.1:18085 & sy=$!; pids+=($sy)
measure switchyard_postgres_log "http://127.0.0.1:18085/c?oid=1&affid=1&sub1=bench&sub2=x" "$sy"
kill -TERM "$sy"; wait "$sy" || true
psql "$DB_URL" -qAtc "select 'rows written: ' || count(*) from clicks"

# Exactness: 10,000 clicks from wrk are 10,000 rows after a clean shutdown.
psql "$DB_URL" -qc "truncate clicks"
env SWITCHYARD_ADMIN_LISTEN=127.0.0.1:18089 RUST_LOG=warn DATABASE_URL="$DB_URL" "$BIN" serve --listen 127.0.0.1:18086 & sy=$!; pids+=($sy)
sleep 1
wrk -t1 -c1 -d60s -s benches/load/exact.lua "http://127.0.0.1:18086/c?oid=1&affid=1" > /tmp/wrk-exact.txt || true
kill -TERM "$sy"; wait "$sy" || true
echo "wrk exact run: $(awk '/requests in/ {print $1}' /tmp/wrk-exact.txt) responses; rows: $(psql "$DB_URL" -qAtc 'select count(*) from clicks'); distinct sub1: $(psql "$DB_URL" -qAtc 'select count(distinct sub1) from clicks')"

nginx_rps=$(awk '$1=="nginx_302" {print $2}' /tmp/wrk-summary.txt)
echo
echo "ratios to nginx (same run):"
nginx_cpu=$(awk '$1=="nginx_302" {print $3}' /tmp/wrk-summary.txt)
awk -v base="$nginx_rps" -v cpu="$nginx_cpu" '{printf "  %-28s %.2fx req/s, %.2fx per CPU-second\n", $1, $2/base, $3/cpu}' /tmp/wrk-summary.txt
psql "$ADMIN_URL" -qc "drop database if exists $BENCH_DB with (force)"
