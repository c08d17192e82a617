#!/usr/bin/env bash
# Where a click's CPU goes, kernel included: `perf record` samples the server
# (pinned to core 0, one worker thread) while wrk (core 1) saturates it with
# `/c` clicks for DURATION, and inferno draws the samples as a flamegraph.
# Complements instructions.sh, which counts user-space instructions only: the
# TCP stack, wakeups and page faults show up here.
#
#   benches/load/flamegraph.sh                 # events to Postgres
#   SINK=file benches/load/flamegraph.sh       # events to a JSON-lines file
#
# Writes $OUT/flamegraph-$SINK.svg and prints the heaviest frames (self time)
# and the share of samples in the kernel, in libc and in the server.
# Needs: perf (apt-get install linux-perf), wrk, inferno (cargo install
# inferno), psql and a reachable Postgres (ADMIN_URL). Not run in CI.
set -euo pipefail
cd "$(dirname "$0")/../.."
SINK=${SINK:-postgres}
DURATION=${DURATION:-10}
PORT=${PORT:-18098}
OUT=${OUT:-target/flamegraph}
ADMIN_URL=${ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
BENCH_DB=switchyard_flamegraph
URL="http://127.0.0.1:$PORT/c?oid=1&affid=1&sub1=bench&sub2=x"
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BIN=$TARGET_DIR/release/switchyard
WORK=$(mktemp -d /tmp/switchyard-flamegraph.XXXXXX)
mkdir -p "$OUT"

for tool in perf wrk inferno-collapse-perf inferno-flamegraph psql taskset; do
  command -v "$tool" >/dev/null || { echo "flamegraph: $tool not found" >&2; exit 1; }
done

# The same targets as harness.sh builds: another set unifies the dev-dependencies'
# features differently and rebuilds the crate (minutes with LTO).
cargo build --release --quiet --bin switchyard --example bare_redirect

args=(serve --listen "127.0.0.1:$PORT")
if [ "$SINK" = postgres ]; then
  psql "$ADMIN_URL" -qc "drop database if exists $BENCH_DB with (force)" -c "create database $BENCH_DB" 2>/dev/null
  DB_URL="${ADMIN_URL%/*}/$BENCH_DB"
  "$BIN" migrate --database-url "$DB_URL" >/dev/null
  psql "$DB_URL" -q -f benches/load/one-offer.sql
  args+=(--database-url "$DB_URL")
else
  args+=(--events-file "$WORK/events.jsonl")
fi

TOKIO_WORKER_THREADS=1 SWITCHYARD_ADMIN_LISTEN=off SWITCHYARD_SPILL_DIR="$WORK/spill" RUST_LOG=warn \
  taskset -c 0 "$BIN" "${args[@]}" >"$WORK/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do curl -s -o /dev/null "$URL" && break; sleep 0.2; done

# A warm-up, so that the click index and the allocator are in their steady state.
taskset -c 1 wrk -t1 -c64 -d3s "$URL" >/dev/null
# DWARF unwinding: the release profile keeps no frame pointers, but its unwind
# tables are enough for perf.
perf record -q -F 499 -e cpu-clock --call-graph dwarf,16384 -p "$server" -o "$WORK/perf.data" \
  -- sleep "$DURATION" 2>/dev/null &
recorder=$!
taskset -c 1 wrk -t1 -c64 -d"$((DURATION + 1))s" "$URL" >"$WORK/wrk.txt"
wait "$recorder" || true
kill -TERM "$server"; wait "$server" 2>/dev/null || true

perf script -i "$WORK/perf.data" 2>/dev/null | inferno-collapse-perf --all > "$WORK/folded"
inferno-flamegraph --title "switchyard /c, events to $SINK" < "$WORK/folded" > "$OUT/flamegraph-$SINK.svg"
cp "$WORK/folded" "$OUT/folded-$SINK.txt"
grep 'Requests/sec' "$WORK/wrk.txt"

# Shares of the samples by where their innermost frame is.
python3 - "$WORK/folded" <<'EOF'
import collections, sys
total = 0
by_leaf = collections.Counter()
by_area = collections.Counter()
for line in open(sys.argv[1]):
    stack, _, count = line.rstrip().rpartition(" ")
    count = int(count)
    total += count
    leaf = stack.split(";")[-1]
    by_leaf[leaf] += count
    if leaf.endswith("_[k]"):
        by_area["kernel"] += count
    elif any(name in leaf for name in ("malloc", "free", "memcpy", "memmove", "memset", "libc")):
        by_area["libc (malloc, free, memcpy)"] += count
    else:
        by_area["user space (ours and our crates)"] += count
print(f"{total} samples")
for area, count in by_area.most_common():
    print(f"  {100 * count / total:5.1f}%  {area}")
print("heaviest frames, self time:")
for leaf, count in by_leaf.most_common(25):
    print(f"  {100 * count / total:5.1f}%  {leaf[:110]}")
EOF
echo "flamegraph: $OUT/flamegraph-$SINK.svg"
