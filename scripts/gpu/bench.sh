#!/usr/bin/env bash
# GPU machine, after scripts/gpu/background.sh and the staging transfers (Deno, node_modules and the
# CUDA provider under /opt/kvstage). Usage: bash scripts/gpu/bench.sh PHASE
#   check   nvidia-smi, versions, `deno task parity` on cuda (TF32 off, then on; and webgpu unless
#           WEBGPU=0), background progress
#   anchor  waits for the zoo to leave the GPU, then the PyTorch bf16 eager anchor
#   onnx    `deno task bench` on each 1B-shape export (CUDA EP, host state, decode and prefill loops,
#           score graph; TF32 on);
#           (background.sh rewrites each export's linear layers to fp16 in place; MODELS names the
#           directories, e.g. MODELS="llama3.2-1b-gqa-grouped …" for the grouped-head variant)
#   state   the same decode with the state in pinned host memory (CUDA) and on the GPU (WebGPU)
#   score   the scoring mix again without prefix reuse (each request alone, lm-eval's way)
#   profile onnxruntime's per-node profile of the decode loop at the largest context (PROFILE_MODELS)
#   collect copies the zoo and every result file to $OUT
# Each phase fits one 10-minute call; results accumulate under $WORK and come back with `collect`
# (or with the phase itself where noted).
set -uo pipefail
PHASE=${1:?phase: check, anchor, onnx, state, score, profile or collect}
WORK=${WORK:-/opt/kvwork}
OUT=${OUT:-/tmp/out}
MODELS=${MODELS:-llama3.2-1b-gqa transmla-1b xecomla-1b-r128 zebra-1b-8mla8m2}
CONTEXTS=${CONTEXTS:-4096,16384,32768}
HOST_DECODE=${HOST_DECODE:-32}  # steps of the host-state decode (slow at long contexts)
source /opt/kvstage/env.sh
mkdir -p "$OUT" "$WORK/results"
R=$WORK/results
deno_run() { deno run --cached-only -A "$@"; }
wait_for() { # file, seconds
  for _ in $(seq 1 "$2"); do [ -e "$1" ] && return 0; sleep 1; done
  echo "gave up waiting for $1 after $2 s"; return 1
}
# Peak GPU memory of one command, sampled by nvidia-smi (onnxruntime's arena included).
with_peak() { # label, command...
  local label=$1; shift
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$R/mem-$label.txt" &
  local sampler=$!
  "$@"; local rc=$?
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
  echo "$label peak_gpu_mib $(sort -n "$R/mem-$label.txt" | tail -1) rc $rc" | tee -a "$R/peaks.txt"
}
case $PHASE in
check)
  { date -u +%FT%TZ; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv;
    python3 -c "import torch, transformers, onnx; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'transformers', transformers.__version__, 'onnx', onnx.__version__)";
    deno --version | head -1; } > "$R/env.txt" 2>&1
  cat "$R/env.txt"
  deno_run scripts/parity.ts --device cuda > "$R/parity-cuda.txt" 2>&1; echo "parity cuda exit $?" >> "$R/parity-cuda.txt"
  deno_run scripts/parity.ts --device cuda --tf32 on > "$R/parity-cuda-tf32.txt" 2>&1
  echo "parity cuda --tf32 on exit $?" >> "$R/parity-cuda-tf32.txt"
  if [ "${WEBGPU:-1}" = 1 ]; then
    timeout 120 deno run --cached-only -A scripts/parity.ts --device webgpu > "$R/parity-webgpu.txt" 2>&1
    echo "parity webgpu exit $?" >> "$R/parity-webgpu.txt"
  fi
  cp "$R"/parity-*.txt "$R/env.txt" "$OUT/"
  tail -4 "$R"/parity-*.txt
  ls "$WORK" "$WORK/bench" "$WORK/zoo" 2>&1; tail -n 2 "$WORK"/logs/*.log
  ;;
anchor)
  # The zoo trains on the same GPU: wait for it, when background.sh started it.
  if [ -e "$WORK/logs/zoo-chain.log" ]; then wait_for "$WORK/zoo.done" 240; wait_for "$WORK/dma.done" 60; fi
  python3 scripts/bench_torch.py --smoke --device cuda --contexts 256 --decode 4 --mc 4 > "$R/torch-smoke.txt" 2>&1 ||
    { tail -20 "$R/torch-smoke.txt"; exit 1; }
  with_peak torch python3 scripts/bench_torch.py --device cuda --contexts "$CONTEXTS" --json "$R/torch.json" \
    > "$R/torch.txt" 2> "$R/torch.err"
  cp "$R/torch.json" "$R/torch.txt" "$OUT/" 2>/dev/null; tail -3 "$R/torch.err"; cat "$R/torch.txt"
  ;;
onnx)
  for m in $MODELS; do
    [ -e "$R/bench-$m.json" ] && continue
    wait_for "$WORK/bench/$m/score.onnx" "${WAIT_S:-400}" || { tail -3 "$WORK/logs/export-$m.log"; continue; }
    with_peak "$m" deno_run scripts/bench.ts --model "$WORK/bench/$m" --device cuda --decode-loop --prefill-loop \
      --score-graph --host-decode "$HOST_DECODE" --tf32 on \
      --contexts "$CONTEXTS" --db "$R/bench.duckdb" --json "$R/bench-$m.json" > "$R/bench-$m.txt" 2>&1
    tail -12 "$R/bench-$m.txt"
  done
  ;;
state)
  with_peak gqa-pinned deno_run scripts/bench.ts --model "$WORK/bench/llama3.2-1b-gqa" --device cuda \
    --state-location cpu-pinned --mc 0 --contexts "$CONTEXTS" --db "$R/bench.duckdb" \
    --json "$R/state-gqa-pinned.json" > "$R/state-gqa-pinned.txt" 2>&1
  tail -6 "$R/state-gqa-pinned.txt"
  for m in llama3.2-1b-gqa xecomla-1b-r128; do
    with_peak "$m-webgpu" timeout 200 deno run --cached-only -A scripts/bench.ts --model "$WORK/bench/$m" \
      --device webgpu --state-location gpu-buffer --mc 0 --contexts 4096 --db "$R/bench.duckdb" \
      --json "$R/state-$m-webgpu.json" > "$R/state-$m-webgpu.txt" 2>&1
    tail -6 "$R/state-$m-webgpu.txt"
  done
  ;;
score)
  for m in $MODELS; do
    with_peak "$m-plain" deno_run scripts/bench.ts --model "$WORK/bench/$m" --device cuda --no-prefix-reuse \
      --contexts 1024 --decode 1 --db "$R/bench.duckdb" --json "$R/score-$m-plain.json" > "$R/score-$m-plain.txt" 2>&1
    grep score-mc "$R/score-$m-plain.txt" | tail -1
  done
  ;;
profile)
  # Where a decode step's time goes: onnxruntime's per-node profile of the decode loop at the
  # largest context, summed by operator (host time per node; compare the sum with the wall time).
  for m in ${PROFILE_MODELS:-llama3.2-1b-gqa xecomla-1b-r128}; do
    mkdir -p "$R/profile-$m"
    KVBENCH_ORT_PROFILE="$R/profile-$m" deno_run scripts/bench.ts --model "$WORK/bench/$m" --device cuda \
      --decode-loop --decode 8 --host-decode 1 --mc 0 --tf32 on --contexts "${CONTEXTS##*,}" \
      --db "$R/profile.duckdb" > "$R/profile-$m.txt" 2>&1
    python3 scripts/gpu/profile_summary.py "$R/profile-$m"/decode_loop*.json | tee "$OUT/profile-$m.txt" | head -30
  done
  ;;
collect)
  # One archive per model: five together pass the 16 MiB a returned file may have.
  for d in "$WORK"/zoo/*/; do
    [ -f "$d/TRAINING.json" ] && tar -C "$WORK/zoo" -czf "$OUT/zoo-$(basename "$d").tar.gz" "$(basename "$d")"
  done
  tar -C "$WORK" -czf "$OUT/logs.tgz" logs
  tar -C "$R" -czf "$OUT/results.tgz" --exclude='mem-*' .
  ls -la "$OUT"; cat "$R/peaks.txt" 2>/dev/null; grep -h "mqar" "$WORK"/logs/zoo-*.log | tail -8
  ;;
*) echo "unknown phase $PHASE"; exit 2 ;;
esac
