#!/usr/bin/env bash
# Fuzz run: a release Switchyard on a fresh database of the local Postgres, N
# requests from benches/load/fuzz.py (random and hostile values on /c, /i,
# /sl/{id} and /postback), a clean shutdown, then the server's own counts
# against the rows: every hit and every judged postback must be one row, and
# nothing may be left in the spill file. Prints the dead-lettered rows too
# (0 expected: the edge refuses what would not fit). Not run in CI.
# Needs: python3, psql, a local Postgres (ADMIN_URL).
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-50000}
SEED=${SEED:-10}
ADMIN_URL=${ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DB=switchyard_fuzz
LISTEN=${LISTEN:-127.0.0.1:18091}
# Where /metrics is served: the admin listener, never the tracking port.
ADMIN=${ADMIN:-127.0.0.1:18093}
SPILL=$(mktemp -d /tmp/switchyard-fuzz.XXXXXX)
cargo build --release --quiet --bin switchyard
BIN=target/release/switchyard
psql "$ADMIN_URL" -qc "drop database if exists $DB with (force)" -c "create database $DB"
DB_URL="${ADMIN_URL%/*}/$DB"
"$BIN" migrate --database-url "$DB_URL" >/dev/null
psql "$DB_URL" -q <<'SQL'
INSERT INTO advertisers (id, name) VALUES (1, 'Fuzz');
INSERT INTO partners (id, name) VALUES (1, 'Fuzz partner'), (2, 'Other');
INSERT INTO offers (id, advertiser_id, name, offer_url, payout_model, payout, revenue_model, revenue, allow_duplicate_conversions, deep_link_enabled, deep_link_hosts)
  VALUES (1, 1, 'Percent', 'https://adv.example/?t={transaction_id}&s1={sub1}', 'percent', 100, 'percent', 100, true, true, '{shop.example}'),
         (2, 1, 'Flat', 'https://adv2.example/?t={transaction_id}', 'flat', 2.5, 'flat', 4, false, false, '{}');
INSERT INTO offer_approvals (offer_id, partner_id) VALUES (1, 1), (2, 1);
INSERT INTO smart_links (id, name, mechanism) VALUES (1, 'Fuzz link', 'weight');
INSERT INTO smart_link_offers (smart_link_id, offer_id, weight) VALUES (1, 1, 1), (1, 2, 1);
SQL
SWITCHYARD_ADMIN_LISTEN="$ADMIN" RUST_LOG=warn DATABASE_URL="$DB_URL" SWITCHYARD_SPILL_DIR="$SPILL" "$BIN" serve --listen "$LISTEN" 2> "$SPILL/server.log" & sy=$!
trap 'kill $sy 2>/dev/null || true; rm -rf "$SPILL"' EXIT
for _ in $(seq 1 50); do curl -sf "http://$LISTEN/readyz" >/dev/null && break; sleep 0.2; done
# Another server on the port would answer in its place (and this one exit).
kill -0 "$sy" 2>/dev/null || { cat "$SPILL/server.log" >&2; echo "the server did not start (is $LISTEN or $ADMIN taken? set LISTEN or ADMIN)" >&2; exit 1; }
started=$(date +%s)
python3 benches/load/fuzz.py "$LISTEN" "$N" "$SEED"
echo "fuzz took $(( $(date +%s) - started )) s"
curl -sf "http://$ADMIN/metrics" > "$SPILL/metrics"
sum() { awk -v m="$1" 'index($1, m "{") == 1 || $1 == m { s += $2 } END { printf "%d", s }' "$SPILL/metrics"; }
hits=$(sum switchyard_hits_total); judged=$(sum switchyard_conversions_total)
kill -TERM "$sy"; wait "$sy" || true
q() { psql "$DB_URL" -qAtc "$1"; }
hit_rows=$(( $(q "select count(*) from clicks") + $(q "select count(*) from impressions") ))
conversion_rows=$(( $(q "select count(*) from conversions") + $(q "select count(*) from conversion_events") ))
echo "hits recorded by the server: $hits; rows in clicks + impressions: $hit_rows; lost: $((hits - hit_rows))"
echo "postbacks judged: $judged; rows in conversions + conversion_events: $conversion_rows; lost: $((judged - conversion_rows))"
echo "dead-lettered: $(q "select count(*) from dead_letter_events")"
echo "left in the spill file: $(cat "$SPILL"/events.spill.jsonl 2>/dev/null | wc -l) events"
echo "invalid requests recorded: $(q "select count(*) from clicks where discard_rule = 'INVALID_REQUEST'") clicks"
psql "$ADMIN_URL" -qc "drop database if exists $DB with (force)"
