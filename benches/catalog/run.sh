#!/usr/bin/env bash
# Catalogs of 1k, 10k and 100k offers from Postgres (benches/catalog/scale.rs):
# load and build time, resident memory after the build, and how long a
# committed change takes to be served, alone and in a burst of 10,000. Each
# size runs in a process of its own, so its memory figures are its own. The
# generated databases (switchyard_bench_catalog_N) are kept for the next run;
# drop them to regenerate. Needs a reachable Postgres (ADMIN_URL, default local
# trust auth). Not in CI: at 100k offers a run takes minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
ADMIN_URL=${ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
SIZES=${SIZES:-1000 10000 100000}
cargo build --quiet --release --example catalog_scale
for offers in $SIZES; do
  echo "== $offers offers (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
  "${CARGO_TARGET_DIR:-target}/release/examples/catalog_scale" "$ADMIN_URL" "$offers"
done
