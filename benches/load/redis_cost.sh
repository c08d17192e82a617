#!/usr/bin/env bash
# What Redis spends per click when counters live there (issue 13, fleet sizing):
# round trips and Redis commands per click, Redis CPU per 1,000 clicks, and the
# memory its keys take, from `INFO commandstats`, `INFO cpu` and `INFO memory`
# of a private Redis.
#
#   benches/load/redis_cost.sh                      # lists c, sl and mix, 10 s each
#   LISTS=mix DURATION=20s benches/load/redis_cost.sh
#   BIN=target/debug/switchyard benches/load/redis_cost.sh
#
# The catalog and the traffic are the load harness's (catalog.py: 1,000 offers
# with caps on every one, 20 active rules among them IP recency and rate
# limits; 20,000 requests per list with 5,000 client IPs), served from the YAML
# file with events to a JSON-lines file: Postgres plays no part in what Redis
# does. Per click means per request the server answered and recorded, read from
# the events file after a clean shutdown. The figures do not depend on the
# server's build (a debug one only sends fewer clicks a second); Redis CPU is
# the Redis process's own, so other work on the machine moves it little.
#
# Needs: wrk, redis-server, redis-cli, python3, curl. Ports REDIS_PORT, PORT and
# PORT + 1 (the admin listener, for the fallback count).
set -euo pipefail
cd "$(dirname "$0")/../.."

REDIS_PORT=${REDIS_PORT:-6391}
PORT=${PORT:-18390}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-16}
LISTS=${LISTS:-c sl mix}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BIN=${BIN:-$TARGET_DIR/release/switchyard}
UA_FILE=${UA_FILE:-data/uap-core/tests/test_ua.yaml}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/switchyard-redis-cost.XXXXXX")

redis_pid=
server_pid=
cleanup() {
  set +e
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null
  [[ -n $redis_pid ]] && kill "$redis_pid" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

rcli() { redis-cli -p "$REDIS_PORT" "$@"; }

# One field of an INFO section (`INFO cpu` → used_cpu_user, say).
info_field() { rcli info "$1" | tr -d '\r' | awk -F: -v f="$2" '$1 == f { print $2 }'; }

redis_cpu() {
  awk -v u="$(info_field cpu used_cpu_user)" -v s="$(info_field cpu used_cpu_sys)" 'BEGIN { printf "%.3f", u + s }'
}

# calls of every command since the last CONFIG RESETSTAT, as "cmd calls usec".
commandstats() {
  rcli info commandstats | tr -d '\r' |
    sed -n 's/^cmdstat_\([a-z|]*\):calls=\([0-9]*\),usec=\([0-9]*\),.*/\1 \2 \3/p'
}

one_list() {
  local list=$1 events=$WORK/events-$1.jsonl cpu0 cpu1
  rcli flushall >/dev/null
  local memory0
  memory0=$(info_field memory used_memory)
  env TOKIO_WORKER_THREADS=1 SWITCHYARD_ADMIN_LISTEN="127.0.0.1:$((PORT + 1))" RUST_LOG=warn \
    SWITCHYARD_TRUSTED_PROXIES=127.0.0.1/32 SWITCHYARD_REDIS_URL="redis://127.0.0.1:$REDIS_PORT" \
    SWITCHYARD_REDIS_TIMEOUT_MS=1000 SWITCHYARD_SPILL_DIR="$WORK/spill" \
    "$BIN" serve --listen "127.0.0.1:$PORT" --catalog-file "$WORK/catalog.yaml" \
    --events-file "$events" >"$WORK/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 300); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/readyz" && break; sleep 0.1; done
  rcli config resetstat >/dev/null
  cpu0=$(redis_cpu)
  REQUESTS=$WORK/$list.tsv wrk -t1 -c"$CONNECTIONS" -d"$DURATION" -s benches/load/requests.lua \
    "http://127.0.0.1:$PORT" >"$WORK/wrk-$list.txt"
  cpu1=$(redis_cpu)
  local fallbacks
  fallbacks=$(curl -sf "http://127.0.0.1:$((PORT + 1))/metrics" |
    awk '/^switchyard_counter_fallbacks_total / { print $2 }')
  kill -TERM "$server_pid"
  wait "$server_pid" || true
  server_pid=
  # A fallback counts in the server, not in Redis: the figures would be low.
  [[ ${fallbacks:-0} == 0 ]] || echo "  warning: $fallbacks reservations fell back to in-process counters" >&2
  local clicks redirected
  clicks=$(grep -c '"event":"hit"' "$events")
  redirected=$(grep -c '"redirected":true' "$events")
  local keys memory1
  keys=$(rcli dbsize)
  memory1=$(info_field memory used_memory)
  echo "== list $list: $clicks clicks answered ($redirected redirected) at $(awk '/Requests\/sec/ { printf "%.0f", $2 }' "$WORK/wrk-$list.txt") a second"
  awk -v k="$keys" -v a="$memory0" -v b="$memory1" 'BEGIN {
    printf "   keys left: %d, %.1f MB (%.0f bytes a key)\n", k, (b - a) / 1e6, k ? (b - a) / k : 0 }'
  commandstats | awk -v n="$clicks" -v cpu="$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { print b - a }')" '
    { calls[$1] = $2; usec[$1] = $3; if ($1 != "evalsha" && $1 != "eval" && $1 != "info" && $1 != "config|resetstat" && $1 != "dbsize" && $1 != "script|load") inner += $2 }
    END {
      printf "   round trips per click (EVALSHA): %.3f\n", calls["evalsha"] / n
      printf "   commands inside scripts per click: %.3f (", inner / n
      sep = ""
      for (c in calls) if (c != "evalsha" && c != "eval" && c != "info" && c != "config|resetstat" && c != "dbsize" && c != "script|load") { printf "%s%s %.3f", sep, c, calls[c] / n; sep = ", " }
      printf ")\n"
      printf "   EVALSHA time inside Redis: %.1f us per click\n", usec["evalsha"] / n
      printf "   Redis CPU (user+sys): %.3f s per 1,000 clicks (%.2f s for %d clicks)\n", cpu * 1000 / n, cpu, n
    }'
}

main() {
  for tool in wrk redis-server redis-cli python3 curl; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
  done
  [[ -x $BIN ]] || { echo "no server binary at $BIN (cargo build --release, or set BIN)" >&2; exit 1; }
  python3 benches/load/catalog.py "$UA_FILE" "$WORK"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no --dir "$WORK" \
    >"$WORK/redis.log" 2>&1 &
  redis_pid=$!
  for _ in $(seq 50); do rcli ping >/dev/null 2>&1 && break; sleep 0.1; done
  echo "redis $(redis-server --version | awk '{ print $3 }'), $CONNECTIONS connections, $DURATION per list, load 1: $(cut -d' ' -f1 /proc/loadavg)"
  for list in $LISTS; do one_list "$list"; done
}

main
