#!/usr/bin/env bash
# Merges the shards of eval-array.sh once the whole array succeeded (sbatch --dependency=afterok).
#SBATCH --job-name=kvbench-merge
#SBATCH --time=00:30:00
set -euo pipefail
SHARD_DIR=${SHARD_DIR:-results/shards}
OUT=${OUT:-results/kvbench.duckdb}
mkdir -p "$(dirname "$OUT")"
deno task merge "$OUT" "$SHARD_DIR"/shard-*.duckdb
deno task report --db "$OUT"
