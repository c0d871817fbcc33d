#!/usr/bin/env bash
# One kvbench evaluation as a Slurm job array: task I runs shard I (SLURM_ARRAY_TASK_ID, counted
# from the array's first index) of the array's size, one GPU each, writing its own DuckDB file.
#   jobid=$(sbatch --parsable deploy/slurm/eval-array.sh)
#   sbatch --dependency=afterok:$jobid deploy/slurm/merge.sh
# A task that failed is rerun alone with sbatch --array=I deploy/slurm/eval-array.sh; it resumes.
#SBATCH --job-name=kvbench-eval
#SBATCH --array=0-3
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --time=12:00:00
set -euo pipefail
MODEL=${MODEL:-models/llama}
TASKS=${TASKS:-ruler}
SHARD_DIR=${SHARD_DIR:-results/shards}
SHARDS=${SHARDS:-$SLURM_ARRAY_TASK_COUNT}
EVAL_ARGS=${EVAL_ARGS:---device cuda}
mkdir -p "$SHARD_DIR"
# shellcheck disable=SC2086 # EVAL_ARGS is a list of options
deno task eval --model "$MODEL" --tasks "$TASKS" --shards "$SHARDS" \
  --db "$SHARD_DIR/shard-$SLURM_ARRAY_TASK_ID.duckdb" --no-report $EVAL_ARGS
