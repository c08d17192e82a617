#!/usr/bin/env bash
# Resident memory of the server after CLICKS redirected clicks (10 M by default)
# at the default settings (click index of 2 M clicks, 24 h), events to a file.
# The server runs pinned to core 0, wrk to core 1. Prints the clicks the index
# holds (its gauge), VmRSS and VmHWM from /proc.
#
#   benches/load/memory.sh                 # this tree's release build
#   BIN=/path/to/old/switchyard benches/load/memory.sh   # another build, e.g. main
#   ECHO_SUB1=1 benches/load/memory.sh     # partner 1's postback URL echoes {sub1}
#
# Needs wrk (apt-get install wrk). Not in CI: it takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
CLICKS=${CLICKS:-10000000}
CONNECTIONS=${CONNECTIONS:-64}
PORT=${PORT:-18090}
# /metrics is on the admin listener only.
ADMIN_PORT=${ADMIN_PORT:-18094}
if [[ -z "${BIN:-}" ]]; then
  cargo build --release --quiet --bin switchyard
  BIN=${CARGO_TARGET_DIR:-target}/release/switchyard
fi

work=$(mktemp -d)
sy=
cleanup() { [[ -n "$sy" ]] && kill "$sy" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

catalog_args=()
if [[ "${ECHO_SUB1:-0}" == 1 ]]; then
  # The demo catalog, with partner 1 asking for its sub1 back on conversions.
  sed 's|{ id: 1, name: "Blue Media", tags: \[mobile, us\] }|{ id: 1, name: "Blue Media", tags: [mobile, us], postback_url: "https://blue.example/pb?click={sub1}" }|' \
    config/demo-catalog.yaml > "$work/catalog.yaml"
  grep -q 'blue.example/pb' "$work/catalog.yaml"
  catalog_args=(--catalog-file "$work/catalog.yaml")
fi

taskset -c 0 env TOKIO_WORKER_THREADS=1 SWITCHYARD_ADMIN_LISTEN="127.0.0.1:$ADMIN_PORT" RUST_LOG=warn "$BIN" serve --listen "127.0.0.1:$PORT" \
  --events-file "$work/events.jsonl" "${catalog_args[@]}" &
sy=$!
ready=0
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && { ready=1; break; }; sleep 0.2; done
if [[ $ready != 1 ]]; then echo "the server did not start" >&2; exit 1; fi

status() { grep -E '^(VmRSS|VmHWM)' "/proc/$sy/status" | tr -s ' \t' ' ' | tr '\n' ' '; }
echo "started: $(status)"
redirected() {
  curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" |
    awk '/^switchyard_hits_total/ && /kind="click"/ && /outcome="redirected"/ {s += $2} END {print s + 0}'
}
start=$(date +%s)
# wrk runs for its whole duration even after its Lua script stops sending, so it
# is stopped here once the server has redirected CLICKS clicks.
CLICKS=$CLICKS taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d3600s -s benches/load/memory.lua \
  "http://127.0.0.1:$PORT/c?oid=1&affid=1" > "$work/wrk.txt" &
wrk_pid=$!
while kill -0 "$wrk_pid" 2>/dev/null && (( $(redirected) < CLICKS )); do sleep 1; done
kill "$wrk_pid" 2>/dev/null || true
wait "$wrk_pid" 2>/dev/null || true
elapsed=$(( $(date +%s) - start ))
# Let the writer drain before reading the figures.
sleep 2
held=$(curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | awk '/^switchyard_click_index_entries / {print $2}')
echo "redirected: $(redirected) clicks in ${elapsed}s; in the click index: ${held:-?}"
echo "after: $(status)"
