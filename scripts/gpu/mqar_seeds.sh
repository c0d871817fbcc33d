#!/usr/bin/env bash
# GPU machine: trains MQAR zoo families from scratch (llama, dma) at several seeds at once, in process
# sessions that outlive the call (about 200 s each on an H100; six fit at once), to compare them in
# one setup. Usage:
#   TAG=kw16-lr3e-4 SEEDS="20261123 20261124 20261125" FAMILIES="llama dma" \
#     ARGS="--dma-keep-window 16 --scratch-lr 3e-4" bash scripts/gpu/mqar_seeds.sh start
#   TAG=kw16-lr3e-4 bash scripts/gpu/mqar_seeds.sh collect   # waits, then copies the records to $OUT/dma
# Models and logs go under $WORK/seeds/$TAG (default WORK /opt/kvwork); a record is that run's
# TRAINING.json, named train-<family>-<seed>-<tag>.json.
set -uo pipefail
MODE=${1:?mode: start or collect}
WORK=${WORK:-/opt/kvwork}
OUT=${OUT:-/tmp/out}
TAG=${TAG:?TAG names the setup}
DIR=$WORK/seeds/$TAG
case $MODE in
start)
  mkdir -p "$DIR"
  rm -f "$DIR"/*.rc  # an earlier start's exit codes would end collect's wait at once
  for seed in ${SEEDS:?}; do
    for family in ${FAMILIES:-llama dma}; do
      run=$family-$seed
      # Two CPU threads a run: each builds its batches on the CPU, and six runs with torch's default
      # (every core each) left the GPU at 10% and no run past its first step in two minutes.
      # shellcheck disable=SC2086 # ARGS is a list of flags
      setsid bash -c "OMP_NUM_THREADS=${THREADS:-2} python3 scripts/train_zoo.py --out '$DIR/$run' --families $family --seed $seed ${ARGS:-} \
        > '$DIR/$run.log' 2>&1; echo \$? > '$DIR/$run.rc'" > /dev/null 2>&1 < /dev/null &
    done
  done
  sleep 5
  nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv
  ;;
collect)
  mkdir -p "$OUT/dma"
  for log in "$DIR"/*.log; do
    run=$(basename "$log" .log)
    for _ in $(seq 1 "${WAIT_S:-300}"); do [ -e "$DIR/$run.rc" ] && break; sleep 1; done
    family=${run%%-*}
    echo "$run: exit $(cat "$DIR/$run.rc" 2>/dev/null || echo 'still running'); $(tail -1 "$log")"
    cp "$DIR/$run/$family/TRAINING.json" "$OUT/dma/train-$run-$TAG.json" 2>/dev/null
  done
  tar -C "$DIR" -czf "$OUT/dma/logs-$TAG.tgz" --exclude='*.onnx*' .
  ;;
*) echo "unknown mode $MODE"; exit 2 ;;
esac
