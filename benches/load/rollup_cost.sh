#!/usr/bin/env bash
# What the hourly rollups cost the event writer: benches/load/writer_cost.rs
# (batches of 5,000 clicks through Sink::write) on this tree, then on a tree
# without rollups (BASE, a git revision; default: the parent of the commit that
# added them), one after the other on the same machine. Prints both and the ratio.
# Needs a reachable Postgres (ADMIN_URL, default local trust auth).
set -euo pipefail
cd "$(dirname "$0")/../.."
ADMIN_URL=${ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
BATCHES=${BATCHES:-40}
BASE=${BASE:-$(git log --format=%H -n 1 -- migrations/0009_rollups.sql)^}
PROFILE=${PROFILE:-dev}
base_dir=$(mktemp -d)
trap 'rm -rf "$base_dir"' EXIT

git archive "$BASE" | tar -x -C "$base_dir"
mkdir -p "$base_dir/benches/load"
cp benches/load/writer_cost.rs "$base_dir/benches/load/"
grep -q writer_cost "$base_dir/Cargo.toml" ||
  printf '\n[[example]]\nname = "writer_cost"\npath = "benches/load/writer_cost.rs"\n' >> "$base_dir/Cargo.toml"

# The base tree needs a target directory of its own: both trees build a
# `switchyard` 0.1.0, and cargo would take one's artifacts for the other's.
BASE_TARGET_DIR=${BASE_TARGET_DIR:-$base_dir/target}

run() { # dir
  (cd "$1" && cargo run --quiet --profile "$PROFILE" --example writer_cost -- "$ADMIN_URL" "$BATCHES")
}
with=$(run .)
without=$(CARGO_TARGET_DIR="$BASE_TARGET_DIR" run "$base_dir")
echo "with rollups:    $with"
echo "without rollups: $without"
awk -v a="$with" -v b="$without" 'BEGIN {
  split(a, x, ": "); split(b, y, ": "); printf "ratio: %.2f\n", (x[2] + 0) / (y[2] + 0) }'
