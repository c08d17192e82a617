#!/usr/bin/env bash
# Instructions per request, counted by callgrind: a figure that neither a
# shared, noisy machine nor a VM without hardware counters can distort, for
# before/after comparisons of the click path. One worker thread; start-up and a
# warm-up are left out (instrumentation is switched on for the measured
# requests only). Targets: bare axum on Switchyard's accept loop
# (examples/bare_redirect), Switchyard with events to Postgres, and to a file.
# Prints instructions per request and, per Switchyard target, the heaviest
# functions of the click path (inclusive).
# Needs: valgrind and ab (apt-get install valgrind apache2-utils), psql, a
# reachable Postgres (ADMIN_URL). Not run in CI. About 3 minutes.
# BIN=... BARE=... measure given binaries (say, a build of another revision)
# instead of building this tree's.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-10000}
ADMIN_URL=${ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
BENCH_DB=${BENCH_DB:-switchyard_instructions}
# Three ports from here (other runs on the machine may hold the defaults).
PORT=${PORT:-18095}
URL='/c?oid=1&affid=1&sub1=bench&sub2=x'
WORK=$(mktemp -d "${TMPDIR:-/tmp}/switchyard-instructions.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet --bin switchyard --example bare_redirect
fi
BIN=${BIN:-target/release/switchyard}
BARE=${BARE:-target/release/examples/bare_redirect}

psql "$ADMIN_URL" -qc "drop database if exists $BENCH_DB with (force)" -c "create database $BENCH_DB" 2>/dev/null
DB_URL="${ADMIN_URL%/*}/$BENCH_DB"
"$BIN" migrate --database-url "$DB_URL" >/dev/null
psql "$DB_URL" -q -f benches/load/one-offer.sql

# name port command...: N keep-alive requests from ab (16 connections) after a
# warm-up, counted by callgrind; prints instructions per request.
measure() {
  local name=$1 port=$2; shift 2
  local out="$WORK/$name.callgrind"
  TOKIO_WORKER_THREADS=1 SWITCHYARD_ADMIN_LISTEN=off RUST_LOG=warn \
    valgrind --tool=callgrind --callgrind-out-file="$out" --instr-atstart=no "$@" \
    > "$WORK/$name.log" 2>&1 & local pid=$!
  for _ in $(seq 1 120); do curl -s -o /dev/null "http://127.0.0.1:$port$URL" && break; sleep 0.5; done
  ab -k -q -n 2000 -c 16 "http://127.0.0.1:$port$URL" > /dev/null 2>&1
  callgrind_control -i on "$pid" > /dev/null 2>&1
  ab -k -q -n "$N" -c 16 "http://127.0.0.1:$port$URL" > "$WORK/$name.ab" 2>&1
  callgrind_control -i off "$pid" > /dev/null 2>&1
  # bare_redirect never exits by itself: dump, then stop it.
  callgrind_control -d "$pid" > /dev/null 2>&1
  kill -INT "$pid" 2>/dev/null; sleep 1; kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  local total
  total=$(cat "$out"* | awk '/^totals:/ { s += $2 } END { print s + 0 }')
  grep -q "Failed requests:        0" "$WORK/$name.ab" || { echo "$name: failed requests" >&2; cat "$WORK/$name.ab" >&2; }
  printf '%-28s %8d instructions per request\n' "$name" $((total / N))
  echo "$name $((total / N))" >> "$WORK/summary"
}

measure axum_bare_302 "$PORT" "$BARE" "127.0.0.1:$PORT" http1
measure switchyard_postgres_log $((PORT + 1)) "$BIN" serve --listen "127.0.0.1:$((PORT + 1))" --database-url "$DB_URL"
measure switchyard_file_log $((PORT + 2)) "$BIN" serve --listen "127.0.0.1:$((PORT + 2))" --events-file "$WORK/events.jsonl"

base=$(awk '$1 == "axum_bare_302" { print $2 }' "$WORK/summary")
echo
echo "ratio to bare axum: $(awk -v b="$base" '$1 != "axum_bare_302" { printf "%s %.2fx  ", $1, $2 / b }' "$WORK/summary")"
for name in switchyard_postgres_log switchyard_file_log; do
  echo
  echo "$name, inclusive instructions per request of the click path's parts:"
  # The dump taken while the requests were counted: the largest file.
  dump=$(ls -S "$WORK/$name.callgrind"* | head -n 1)
  callgrind_annotate --inclusive=yes "$dump" 2>/dev/null \
    | grep -E 'switchyard::(http|routing|events::pg_sink|events::sink|visit::params)' | head -14 \
    | sed 's/([ 0-9.%]*)//' | awk -v n="$N" '{ v = $1; gsub(",", "", v); printf "  %7d  %s\n", v / n, $2 }'
done
psql "$ADMIN_URL" -qc "drop database if exists $BENCH_DB with (force)" 2>/dev/null
