#!/usr/bin/env bash
# Issue 13: the event writer's ingest into the partitioned `clicks`, the cost
# per row of each index, how ingest changes from an empty table to a large one,
# and the size on disk per million clicks. Not run in CI.
#
# A private Postgres (initdb under $DIR, port $PORT, pinned to core $PG_CORE
# with taskset; the writer runs on $CLIENT_CORE) so that the shared one is left
# alone. Ingest goes through benches/load/partition_ingest.rs (Sink::write,
# batches of 5,000 clicks of today, rollups included: the writer's real
# statement). History is generated in SQL, one day partition at a time, built
# unindexed and attached (Postgres builds its indexes then), until
# $HISTORY_DAYS days or $BUDGET_SECS seconds, whichever comes first.
#
#   benches/load/partitions.sh            # the full run (about 25 minutes here)
#   HISTORY_DAYS=2 ROWS_PER_DAY=200000 TODAY_ROWS=200000 benches/load/partitions.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
DIR=${DIR:-/tmp/switchyard-partitions-bench}
PORT=${PORT:-5491}
PG_CORE=${PG_CORE:-1}
CLIENT_CORE=${CLIENT_CORE:-0}
HISTORY_DAYS=${HISTORY_DAYS:-25}
ROWS_PER_DAY=${ROWS_PER_DAY:-2000000}
TODAY_ROWS=${TODAY_ROWS:-10000000}
BUDGET_SECS=${BUDGET_SECS:-1200}
BATCHES=${BATCHES:-40}
TARGET=${CARGO_TARGET_DIR:-target}

SWITCHYARD=${SWITCHYARD:-$TARGET/release/switchyard}
INGEST=$TARGET/release/examples/partition_ingest
[ -x "$SWITCHYARD" ] || cargo build --quiet --release --bin switchyard

# Postgres refuses to run as root: then as the packaged `postgres` user.
AS=()
mkdir -p "$DIR"
if [ "$(id -u)" = 0 ]; then AS=(runuser -u postgres --); chown postgres "$DIR"; fi
if [ ! -f "$DIR/data/PG_VERSION" ]; then
  "${AS[@]}" "$PGBIN/initdb" -D "$DIR/data" -U postgres --auth=trust >/dev/null
fi
# wal_level=minimal lets the generated partitions skip the WAL (created and
# filled in one transaction); the writer's inserts are logged as usual.
taskset -c "$PG_CORE" "${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/postgres.log" -w -o \
  "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c shared_buffers=1GB -c max_wal_size=8GB \
   -c checkpoint_timeout=30min -c wal_level=minimal -c max_wal_senders=0 \
   -c maintenance_work_mem=512MB" start >/dev/null
trap '"${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -m fast stop >/dev/null' EXIT

url() { echo "postgres://postgres@127.0.0.1:$PORT/$1"; }
q() { "$PGBIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d "$1" -Atq -v ON_ERROR_STOP=1 -c "$2"; }
fresh() { # db
  q postgres "DROP DATABASE IF EXISTS $1 WITH (FORCE)"
  q postgres "CREATE DATABASE $1"
  "$SWITCHYARD" migrate --database-url "$(url "$1")" >/dev/null
  "$SWITCHYARD" partitions ensure --database-url "$(url "$1")" --days-ahead 1 >/dev/null
}
ingest() { # db layout first -> rows/s
  taskset -c "$CLIENT_CORE" "$INGEST" "$(url "$1")" "$BATCHES" "$2" "$3" | awk '{print $3}'
}
us() { awk -v r="$1" 'BEGIN { printf "%.2f", 1e6 / r }'; }
SECONDARY=(clicks_created_brin clicks_offer_time_idx clicks_partner_time_idx clicks_smart_link_time_idx)

# The history first: it is the long part, and needs no ingest binary.
fresh bench_big
today=$(q bench_big "SELECT (now() AT TIME ZONE 'UTC')::date")
gen_day() { # day rows partition
  local next
  next=$(q bench_big "SELECT ('$1'::date + 1)::text")
  q bench_big "BEGIN;
    CREATE TABLE $3 (LIKE clicks INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
    INSERT INTO $3 (transaction_id, created_at, outcome, discard_rule, requested_offer_id,
                    offer_id, advertiser_id, partner_id, smart_link_id, sub1, sub2, ip,
                    user_agent, country, is_unique)
    SELECT lpad(to_hex((extract(epoch FROM t) * 1000)::bigint), 12, '0') || '7'
             || substr(h, 1, 3) || '8' || substr(h, 4, 15),
           t,
           CASE WHEN g % 10 = 0 THEN 'discarded' ELSE 'redirected' END::hit_outcome,
           CASE WHEN g % 10 = 0 THEN 'IP_RECENCY' END,
           CASE WHEN g % 4 = 0 THEN 1 + g % 997 END,
           CASE WHEN g % 10 <> 0 THEN 1 + g % 997 END,
           1 + g % 50, 1 + g % 1000,
           CASE WHEN g % 4 <> 0 THEN 1 + g % 3 END,
           's' || g, 'banner',
           '10.0.0.0'::inet + (g % 16777216),
           'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36',
           'US', g % 5 <> 0
    FROM generate_series(1, $2) g,
         LATERAL (SELECT '$1'::timestamptz + (g * (86000.0 / $2)) * interval '1 second' AS t,
                         md5(g::text || '$1') AS h) x;
    ALTER TABLE clicks ATTACH PARTITION $3 FOR VALUES FROM ('$1 00:00+00') TO ('$next 00:00+00');
    COMMIT;"
}
started=$SECONDS
days=0
for d in $(seq 1 "$HISTORY_DAYS"); do
  [ $((SECONDS - started)) -lt "$BUDGET_SECS" ] || break
  day=$(q bench_big "SELECT ('$today'::date - $d)::text")
  gen_day "$day" "$ROWS_PER_DAY" "clicks_p${day//-/}"
  days=$d
done
gen_secs=$((SECONDS - started))
history=$(q bench_big "SELECT count(*) FROM clicks")
q bench_big "VACUUM ANALYZE clicks"
cargo build --quiet --release --example partition_ingest

echo "## Ingest into an empty day partition ($((BATCHES * 5000)) clicks, batches of 5,000)"
echo
echo "| indexes on clicks | rows/s | µs/row | this index's µs/row |"
echo "|---|---|---|---|"
fresh bench_pk
for idx in "${SECONDARY[@]}"; do q bench_pk "DROP INDEX $idx"; done
pk=$(ingest bench_pk ordered 0)
echo "| primary key only (transaction_id, created_at) | $pk | $(us "$pk") | |"
for keep in "${SECONDARY[@]}"; do
  fresh bench_one
  for idx in "${SECONDARY[@]}"; do [ "$idx" = "$keep" ] || q bench_one "DROP INDEX $idx"; done
  one=$(ingest bench_one ordered 0)
  echo "| primary key + $keep | $one | $(us "$one") | $(awk -v a="$one" -v b="$pk" 'BEGIN { printf "%.2f", 1e6 / a - 1e6 / b }') |"
done
fresh bench_all
all=$(ingest bench_all ordered 0)
echo "| all five (the schema) | $all | $(us "$all") | |"
fresh bench_random
rnd=$(ingest bench_random random 0)
echo "| all five, random ids | $rnd | $(us "$rnd") | |"
q postgres "DROP DATABASE bench_pk WITH (FORCE)"
q postgres "DROP DATABASE bench_one WITH (FORCE)"
q postgres "DROP DATABASE bench_random WITH (FORCE)"

echo
echo "## From empty to large"
echo
big_empty=$(ingest bench_big ordered 0)
# Today's partition as a busy day has it: $TODAY_ROWS clicks before these.
tp="clicks_p${today//-/}"
q bench_big "ALTER TABLE clicks DETACH PARTITION $tp; DROP TABLE $tp"
gen_day "$today" "$TODAY_ROWS" "$tp"
q bench_big "VACUUM ANALYZE $tp"
big_ordered=$(ingest bench_big ordered 100000000)
big_random=$(ingest bench_big random 200000000)
total=$(q bench_big "SELECT count(*) FROM clicks")
echo "History generated: $history clicks in $days day partitions of $ROWS_PER_DAY, in ${gen_secs}s."
echo
echo "| clicks already stored | today's partition holds | ids | rows/s | µs/row |"
echo "|---|---|---|---|---|"
echo "| 0 | 0 | time-ordered | $all | $(us "$all") |"
echo "| $history | 0 | time-ordered | $big_empty | $(us "$big_empty") |"
echo "| $((history + TODAY_ROWS)) | $TODAY_ROWS | time-ordered | $big_ordered | $(us "$big_ordered") |"
echo "| $((history + TODAY_ROWS)) | $TODAY_ROWS | random | $big_random | $(us "$big_random") |"

echo
echo "## Size on disk per million clicks (today's partition, $TODAY_ROWS generated + the writer's)"
echo
today_rows=$(q bench_big "SELECT count(*) FROM $tp")
echo "| relation | MB per million clicks |"
echo "|---|---|"
q bench_big "SELECT c.relname, round(pg_relation_size(c.oid) / 1e6 / ($today_rows / 1e6), 1)
             FROM pg_class c WHERE c.oid = '$tp'::regclass
                OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = '$tp'::regclass)
             ORDER BY 1" | sed 's/^/| /; s/|/ | /2; s/$/ |/'
echo "| total (heap, TOAST, indexes) | $(q bench_big "SELECT round(pg_total_relation_size('$tp') / 1e6 / ($today_rows / 1e6), 1)") |"
echo
echo "Whole table: $total clicks, $(q bench_big "SELECT pg_size_pretty(sum(pg_total_relation_size(relid))) FROM pg_partition_tree('clicks')")."
