#!/usr/bin/env bash
# GPU machine, first call (needs only Python, so it can ride along with the first staging
# transfer): starts, in process sessions that outlive the call,
#   - the MQAR zoo (scripts/train_zoo.py --preset gpu): the baseline first, then the three
#     converted families in parallel from it; DMA alongside from the start;
#   - the random-weight Llama-3.2-1B-shape exports for `deno task bench`, each followed by a copy
#     whose linear layers multiply in fp16 (<name>-fp16mm), and for both their decode_loop.onnx,
#     prefill_loop.onnx and score.onnx.
# Logs and outputs go under $WORK (default /opt/kvwork); scripts/gpu/bench.sh waits for them.
set -uo pipefail
WORK=${WORK:-/opt/kvwork}
STEPS_SCALE=${STEPS_SCALE:-1}  # the committed zoo: 1 (about 14 minutes on an H100 machine)
BENCH_MODELS=${BENCH_MODELS:-llama3.2-1b-gqa transmla-1b xecomla-1b-r128 zebra-1b-8mla8m2}
ORIGINAL_LOOPS=${ORIGINAL_LOOPS:-1}  # 0: loops and score graphs for the -fp16mm copies only
# Export variants, one after another: per-head (<name>), grouped (<name>-grouped, --grouped-heads) and
# unfolded (<name>-unfolded for each of UNFOLDED_MODELS, --no-fold, with its own loops: the H100 run's graphs).
VARIANTS=${VARIANTS:-per-head}
UNFOLDED_MODELS=${UNFOLDED_MODELS:-llama3.2-1b-gqa}
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
  # One variant at a time, its models in parallel: a full-size export holds ~15 GB of RAM.
  for variant in $VARIANTS; do
    case $variant in
      per-head) flag=; suffix=; models=$BENCH_MODELS ;;
      grouped) flag=--grouped-heads; suffix=-grouped; models=$BENCH_MODELS ;;
      unfolded) flag=--no-fold; suffix=-unfolded; models=$UNFOLDED_MODELS ;;
      *) echo "unknown variant $variant"; continue ;;
    esac
    for m in $models; do
      d="$WORK/bench/$m$suffix"
      (python3 scripts/export_paper_shapes.py --out "$WORK/bench" --models "$m" $flag $EXPORT_ARGS &&
        python3 scripts/export_fp16_matmul.py --model "$d" --out "$d-fp16mm" &&
        python3 scripts/export_decode_loop.py --model "$d-fp16mm" --prefill --score &&
        { [ "$ORIGINAL_LOOPS" = 0 ] && [ "$variant" != unfolded ] ||
          python3 scripts/export_decode_loop.py --model "$d" --prefill --score; }) \
        > "$WORK/logs/export-$m$suffix.log" 2>&1 &
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
setsid bash -c "$(declare -f exports); REPO=$REPO WORK=$WORK BENCH_MODELS='$BENCH_MODELS' ORIGINAL_LOOPS=$ORIGINAL_LOOPS VARIANTS='$VARIANTS' UNFOLDED_MODELS='$UNFOLDED_MODELS' EXPORT_ARGS='$EXPORT_ARGS' PYTHONUNBUFFERED=1 exports; touch $WORK/exports.done" \
  > "$WORK/logs/exports-chain.log" 2>&1 < /dev/null &
sleep 20
nvidia-smi --query-gpu=name,memory.used,utilization.gpu --format=csv
tail -n 2 "$WORK"/logs/*.log
