#!/usr/bin/env bash
# Outage under load: Switchyard (release, one worker, core 0) writing to a
# private Postgres cluster, wrk (core 1) sending clicks throughout, and Postgres
# stopped (MODE=stop: `pg_ctl stop -m immediate`) or frozen (MODE=hang: SIGSTOP
# on every Postgres process, so connections stay open and nothing answers) for
# OUTAGE seconds. Prints redirects per second through the run (from the server's
# own counter, sampled every second), wrk's latency percentiles and slowest
# request, the drain time of the spill file after recovery, its size per
# million events, and hits counted by the server against rows in Postgres.
# Needs: wrk (apt-get install wrk), PostgreSQL 15 server binaries, a `postgres`
# OS user (Debian's package), root or that user. Not run in CI.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODE=${MODE:-stop}
BEFORE=${BEFORE:-10}
OUTAGE=${OUTAGE:-20}
AFTER=${AFTER:-40}
CONNECTIONS=${CONNECTIONS:-64}
PORT=${PORT:-5499}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)}
WORK=$(mktemp -d /tmp/switchyard-outage.XXXXXX)
chmod 755 "$WORK"
PGDATA="$WORK/pg"
SPILL="$WORK/spill"
LISTEN=127.0.0.1:18090
# /metrics is served on the admin listener only.
ADMIN=127.0.0.1:18092
METRICS="http://$ADMIN/metrics"

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$PGDATA/postmaster.pid" ] && { pkill -CONT -P "$(head -1 "$PGDATA/postmaster.pid")" 2>/dev/null || true; kill -CONT "$(head -1 "$PGDATA/postmaster.pid")" 2>/dev/null || true; }
  as_pg "$PGBIN/pg_ctl" -D "$PGDATA" stop -m immediate >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# The same targets as harness.sh builds: another set unifies the dev-dependencies'
# features differently and rebuilds the crate (minutes with LTO).
cargo build --release --quiet --bin switchyard --example bare_redirect
BIN=target/release/switchyard

mkdir -p "$PGDATA" "$SPILL"
chown postgres "$PGDATA" 2>/dev/null || true
as_pg "$PGBIN/initdb" -D "$PGDATA" -A trust -U postgres >/dev/null
# Postgres shares core 1 with wrk, as in run.sh: core 0 is the server's alone.
pg_start() { as_pg taskset -c 1 "$PGBIN/pg_ctl" -D "$PGDATA" -o "-p $PORT -k $PGDATA" -l "$PGDATA/log" start -w >/dev/null; }
pg_start
DB_URL="postgres://postgres@127.0.0.1:$PORT/postgres"
"$BIN" migrate --database-url "$DB_URL" >/dev/null
psql "$DB_URL" -q <<'SQL'
INSERT INTO advertisers (id, name) VALUES (1, 'Bench');
INSERT INTO partners (id, name) VALUES (1, 'Bench partner');
INSERT INTO offers (id, advertiser_id, name, offer_url)
  VALUES (1, 1, 'Bench offer', 'https://adv.example/?t={transaction_id}&s1={sub1}&p={affiliate_id}');
INSERT INTO offer_approvals (offer_id, partner_id) VALUES (1, 1);
SQL

taskset -c 0 env TOKIO_WORKER_THREADS=1 RUST_LOG=warn DATABASE_URL="$DB_URL" \
  SWITCHYARD_ADMIN_LISTEN="$ADMIN" SWITCHYARD_SPILL_DIR="$SPILL" "$BIN" serve --listen "$LISTEN" 2> "$WORK/server.log" & sy=$!; pids+=($sy)
for _ in $(seq 1 50); do curl -sf "http://$LISTEN/readyz" >/dev/null && break; sleep 0.2; done
# Another server on the port would answer in its place (and this one exit).
kill -0 "$sy" 2>/dev/null || { cat "$WORK/server.log" >&2; echo "the server did not start (is $LISTEN or $ADMIN taken?)" >&2; exit 1; }

metric() { # name: the sum of every series of that metric
  awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $2 } END { printf "%d", s }' "$2"
}
sample() {
  local t0=$1 prev=0 now
  while kill -0 "$sy" 2>/dev/null; do
    curl -sf "$METRICS" > "$WORK/m" 2>/dev/null || { sleep 1; continue; }
    now=$(metric switchyard_hits_total "$WORK/m")
    printf '%d %d %d %d\n' $(( $(date +%s) - t0 )) $(( now - prev )) \
      "$(metric switchyard_spill_bytes "$WORK/m")" "$(metric switchyard_event_sink_up "$WORK/m")"
    prev=$now
    sleep 1
  done
}

t0=$(date +%s)
taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$((BEFORE + OUTAGE + AFTER))s" --latency \
  "http://$LISTEN/c?oid=1&affid=1&sub1=outage" > "$WORK/wrk.txt" & wrk_pid=$!; pids+=($wrk_pid)
taskset -c 1 bash -c "$(declare -f metric sample); sy=$sy METRICS=$METRICS WORK=$WORK sample $t0" > "$WORK/samples.txt" & pids+=($!)

sleep "$BEFORE"
pm=$(head -1 "$PGDATA/postmaster.pid")
case "$MODE" in
  stop) as_pg "$PGBIN/pg_ctl" -D "$PGDATA" stop -m immediate >/dev/null ;;
  hang) kill -STOP "$pm"; pkill -STOP -P "$pm" ;;
  *) echo "MODE is stop or hang" >&2; exit 2 ;;
esac
down_at=$(( $(date +%s) - t0 ))
sleep "$OUTAGE"
case "$MODE" in
  stop) pg_start ;;
  hang) pkill -CONT -P "$pm"; kill -CONT "$pm" ;;
esac
up_at=$(( $(date +%s) - t0 ))
wait "$wrk_pid" || true
load_end=$(( $(date +%s) - t0 ))
# Whatever the run left in the spill file drains now, without load.
for _ in $(seq 1 600); do
  curl -sf "$METRICS" > "$WORK/final-metrics" || true
  [ "$(metric switchyard_spill_bytes "$WORK/final-metrics")" = 0 ] && break
  sleep 1
done
idle_drained=$(( $(date +%s) - t0 ))
hits=$(metric switchyard_hits_total "$WORK/final-metrics")
spilled=$(metric switchyard_events_spilled_total "$WORK/final-metrics")
kill -TERM "$sy"; wait "$sy" || true
rows=$(psql "$DB_URL" -qAtc "select count(*) from clicks")
distinct=$(psql "$DB_URL" -qAtc "select count(distinct transaction_id) from clicks")

echo "mode $MODE: Postgres down from ${down_at}s to ${up_at}s of the run"
echo "second redirects/s spill_bytes sink_up"
cat "$WORK/samples.txt"
awk -v d="$down_at" -v u="$up_at" '
  $1 > d && $1 <= u { n++; if (min == "" || $2 < min) min = $2; if ($2 == 0) zero++; sum += $2 }
  $3 > peak { peak = $3 }
  END { printf "during the outage: %d seconds, slowest second %d redirects, %d seconds without any, mean %.0f/s\n", n, min, zero, sum / (n ? n : 1);
        printf "spill file peak: %d bytes\n", peak }' "$WORK/samples.txt"
drained=$(awk -v u="$up_at" -v e="$load_end" '$1 > u && $1 <= e && $3 == 0 { print $1; exit }' "$WORK/samples.txt")
if [ -n "$drained" ]; then
  echo "spill drained $((drained - up_at)) s after Postgres returned, under load"
else
  left=$(awk -v e="$load_end" '$1 <= e { b = $3 } END { print b + 0 }' "$WORK/samples.txt")
  echo "spill not drained in the $((load_end - up_at)) s of load after Postgres returned ($left bytes left); the rest drained in $((idle_drained - load_end)) s without load"
fi
peak=$(awk '$3 > p { p = $3 } END { print p + 0 }' "$WORK/samples.txt")
[ "${spilled:-0}" -gt 0 ] && echo "spill size: $(( peak * 1000000 / spilled / 1000000 )) MB per million events ($spilled events spilled)"
grep -E "Latency|50%|90%|99%|requests in|Requests/sec|Non-2xx" "$WORK/wrk.txt" | sed 's/^/wrk: /'
echo "wrk slowest request: $(awk '/Latency/ {print $4}' "$WORK/wrk.txt")"
echo "hits counted by the server: $hits; rows in clicks: $rows; distinct: $distinct; lost: $((hits - rows))"
echo "dead-lettered: $(psql "$DB_URL" -qAtc "select count(*) from dead_letter_events"); events lost by the server's own count: $(metric switchyard_events_lost_total "$WORK/final-metrics")"
echo "server errors and warnings (first 5 of $(grep -c -E 'ERROR|WARN' "$WORK/server.log" || true)):"
grep -E 'ERROR|WARN' "$WORK/server.log" | head -5 | cut -c1-300 || true
