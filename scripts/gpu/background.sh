#!/usr/bin/env bash
# GPU machine, first call (needs only Python, so it can ride along with the first staging
# transfer): starts, in process sessions that outlive the call,
#   - the MQAR zoo (scripts/train_zoo.py --preset gpu): the baseline first, then the three
#     converted families in parallel from it; DMA alongside from the start;
#   - the random-weight Llama-3.2-1B-shape exports for `deno task bench` (see VARIANTS below).
# Logs and outputs go under $WORK (default /opt/kvwork); scripts/gpu/bench.sh waits for them.
set -uo pipefail
WORK=${WORK:-/opt/kvwork}
STEPS_SCALE=${STEPS_SCALE:-1}  # the committed zoo: 1 (about 14 minutes on an H100 machine)
BENCH_MODELS=${BENCH_MODELS:-llama3.2-1b-gqa transmla-1b xecomla-1b-r128 zebra-1b-8mla8m2 dma-1b}
# Export variants: per-head (<name>), grouped (<name>-grouped, --grouped-heads), both with their linear
# layers rewritten to multiply in fp16 (export_fp16_matmul.py --in-place); unfolded (<name>-unfolded,
# --no-fold, fp32 products: the graphs of the H100 run); fused (<name>-fused, --graph fused: built
# from ONNX Runtime's fused operators in fp16; GQA and MLA layers only, so Zebra and DMA are skipped);
# static (<name>-static, --graph static: fused, with GroupQueryAttention's in-place cache; GQA and X-EcoMLA).
# The default exports the static, fused and traced graphs: static is the fast decoder (docs/BENCHMARKS.md).
VARIANTS=${VARIANTS:-static fused per-head}
EXPORT_ROUNDS=${EXPORT_ROUNDS:-$BENCH_MODELS}
EXPORT_ARGS=${EXPORT_ARGS:-}  # e.g. "--tiny-hidden 8" to try the chain on a small machine
mkdir -p "$WORK/logs" "$WORK/zoo" "$WORK/bench"
export PYTHONUNBUFFERED=1
REPO=$(pwd)
zoo() {
  cd "$REPO" || exit 1
  python3 scripts/train_zoo.py --out "$WORK/zoo" --families llama --steps-scale "$STEPS_SCALE" \
    > "$WORK/logs/zoo-llama.log" 2>&1 || exit 1
  for f in transmla xecomla zebra; do
    python3 scripts/train_zoo.py --out "$WORK/zoo" --families "$f" --teacher "$WORK/zoo/llama" \
      --steps-scale "$STEPS_SCALE" > "$WORK/logs/zoo-$f.log" 2>&1 &
  done
  wait
}
exports() {
  cd "$REPO" || exit 1
  # Rounds one after another (a full-size export holds ~15 GB of RAM); within a round every model
  # of EXPORT_ROUNDS ("a b|c d") in every variant at once. The fp16-matmul rewrite is made in place.
  IFS='|' read -r -a rounds <<< "$EXPORT_ROUNDS"
  for round in "${rounds[@]}"; do
    for variant in $VARIANTS; do
      case $variant in
        per-head) flag=; suffix= ;;
        grouped) flag=--grouped-heads; suffix=-grouped ;;
        unfolded) flag=--no-fold; suffix=-unfolded ;;
        fused) flag="--graph fused"; suffix=-fused ;;
        static) flag="--graph static"; suffix=-static ;;
        *) echo "unknown variant $variant"; continue ;;
      esac
      for m in $round; do
        case "$variant:$m" in fused:zebra* | fused:dma* | static:transmla* | static:zebra* | static:dma*) continue ;; esac  # no such form
        d="$WORK/bench/$m$suffix"
        (python3 scripts/export_paper_shapes.py --out "$WORK/bench" --models "$m" $flag $EXPORT_ARGS &&
          { [ "$variant" = unfolded ] || [ "$variant" = fused ] || [ "$variant" = static ] || python3 scripts/export_fp16_matmul.py --model "$d" --in-place; } &&
          touch "$d/.ready") \
          > "$WORK/logs/export-$m$suffix.log" 2>&1 &
      done
    done
    wait
  done
}
ONLY=${ONLY:-all}  # zoo | exports | all: restart just one part
if [ "$ONLY" != exports ]; then
setsid bash -c "$(declare -f zoo); REPO=$REPO WORK=$WORK STEPS_SCALE=$STEPS_SCALE PYTHONUNBUFFERED=1 zoo; touch $WORK/zoo.done" \
  > "$WORK/logs/zoo-chain.log" 2>&1 < /dev/null &
setsid bash -c "cd $REPO && python3 scripts/train_zoo.py --out $WORK/zoo --families dma --steps-scale $STEPS_SCALE \
  > $WORK/logs/zoo-dma.log 2>&1; touch $WORK/dma.done" > /dev/null 2>&1 < /dev/null &
fi
[ "$ONLY" = zoo ] ||
setsid bash -c "$(declare -f exports); REPO=$REPO WORK=$WORK VARIANTS='$VARIANTS' EXPORT_ROUNDS='$EXPORT_ROUNDS' EXPORT_ARGS='$EXPORT_ARGS' PYTHONUNBUFFERED=1 exports; touch $WORK/exports.done" \
  > "$WORK/logs/exports-chain.log" 2>&1 < /dev/null &
sleep 20
nvidia-smi --query-gpu=name,memory.used,utilization.gpu --format=csv
tail -n 2 "$WORK"/logs/*.log
