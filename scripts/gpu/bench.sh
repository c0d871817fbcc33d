#!/usr/bin/env bash
# GPU machine, after scripts/gpu/background.sh and the staging transfers (Deno, node_modules and the
# CUDA provider under /opt/kvstage). Usage: bash scripts/gpu/bench.sh PHASE
#   check   nvidia-smi, versions, `deno task parity` on cuda (TF32 off, as eval), CUDA graphs against plain
#           steps (scripts/gpu/graph_check.ts), export progress
#   anchor  the PyTorch bf16 anchors, sdpa (lm-eval's hf default) then eager (ATTNS), on the same token ids;
#           LONG= (empty) leaves out the long context
#   onnx    `deno task bench` on each 1B-shape export (MODELS; CONTEXTS, LONG_MODELS also at LONG),
#           with nvidia-smi's PCIe counters sampled during each run; BENCH_ARGS are passed on and
#           TAG is appended to the result files' names (e.g. BENCH_ARGS="--tf32 on" TAG=-tf32)
#   kernels which attention kernel ONNX Runtime ran (ORT_ENABLE_ATTENTION_KERNEL_DEBUG_INFO=1) for each
#           of MODELS in a prefill, decode steps and the scoring mix at KERNEL_CONTEXT (default 4096)
#   e2e     `deno task eval --device cuda` of RULER's 11 synthetic tasks at 4K and 16K on the GQA export
#           (E2E_MODEL), with the perf rows (tokens, model seconds, forward calls per task), then HF sdpa
#           generating the same token shapes (scripts/gpu/ruler_shapes.ts, bench_torch.py --shapes)
#   score   the scoring mix every way (scripts/gpu/score_check.ts: whole rows, prefix reuse a position at a
#           time, prefix reuse through the export's scoring graph; same log-probs, times alternated in one
#           process, where a round's time goes) on SCORE_MODEL; then `deno task bench` and HF sdpa, twice each,
#           on the mix of 64 contexts (each a first pass over a mix of its own, then the timed mix of new
#           shapes)
#   shapes  bench and HF sdpa on the mix of 256 contexts (MC_LONG), bench on 64 without ONNX Runtime's memory
#           patterns (KVBENCH_ORT_MEM_PATTERN=0), and bench on 64 with ONNX Runtime's profile (profile.tgz)
#   collect copies every result file to $OUT
# Each phase fits one 10-minute call; results accumulate under $WORK/results and go to $OUT.
set -uo pipefail
PHASE=${1:?phase: check, anchor, onnx, kernels, e2e, score, shapes or collect}
WORK=${WORK:-/opt/kvwork}
OUT=${OUT:-/tmp/out}
MODELS=${MODELS:-llama3.2-1b-gqa-static xecomla-1b-r128-static llama3.2-1b-gqa-fused transmla-1b-fused xecomla-1b-r128-fused llama3.2-1b-gqa transmla-1b xecomla-1b-r128 zebra-1b-8mla8m2 dma-1b}
CONTEXTS=${CONTEXTS:-4096,16384,32768}
LONG=${LONG-130048}  # 127 × 1024: room for the decode steps within the 131,072 RoPE positions
# 127K: the static and fused graphs only (the traced ones' fp32 scores overflow ONNX Runtime's int32 indexing
# past 64K).
LONG_MODELS=${LONG_MODELS-llama3.2-1b-gqa-static xecomla-1b-r128-static llama3.2-1b-gqa-fused xecomla-1b-r128-fused}
RULER=${RULER:-niah_single_1,niah_single_2,niah_single_3,niah_multikey_1,niah_multikey_2,niah_multikey_3,niah_multivalue,niah_multiquery,vt,cwe,fwe}
source /opt/kvstage/env.sh
mkdir -p "$OUT" "$WORK/results"
R=$WORK/results
deno_run() { deno run --cached-only -A "$@"; }
wait_for() { # file, seconds
  for _ in $(seq 1 "$2"); do [ -e "$1" ] && return 0; sleep 1; done
  echo "gave up waiting for $1 after $2 s"; return 1
}
case $PHASE in
check)
  { date -u +%FT%TZ; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv;
    python3 -c "import torch, transformers, onnx; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'transformers', transformers.__version__, 'onnx', onnx.__version__)";
    deno --version | head -1; } > "$R/env.txt" 2>&1
  cat "$R/env.txt"
  deno_run scripts/parity.ts --device cuda > "$R/parity-cuda.txt" 2>&1; echo "parity cuda exit $?" >> "$R/parity-cuda.txt"
  # Decode steps captured as CUDA graphs against the same steps run plainly.
  deno_run scripts/gpu/graph_check.ts tests/fixtures/*-static-fp16 >> "$R/parity-cuda.txt" 2>&1
  echo "graph_check exit $?" >> "$R/parity-cuda.txt"
  cp "$R"/parity-*.txt "$R/env.txt" "$OUT/"
  tail -8 "$R"/parity-cuda.txt
  ls "$WORK/bench" 2>&1; tail -n 2 "$WORK"/logs/*.log
  ;;
anchor)
  for attn in ${ATTNS:-sdpa eager}; do
    python3 scripts/bench_torch.py --device cuda --attn "$attn" --contexts "$CONTEXTS${LONG:+,$LONG}" \
      --json "$R/torch-$attn.json" > "$R/torch-$attn.txt" 2> "$R/torch-$attn.err"
    tail -2 "$R/torch-$attn.err"; cat "$R/torch-$attn.txt"
  done
  cp "$R"/torch-*.json "$R"/torch-*.txt "$OUT/" 2>/dev/null
  ;;
onnx)
  for m in $MODELS; do
    case $m in *-static) [ -e "$WORK/bench/$m/.ready" ] && deno_run scripts/gpu/graph_check.ts "$WORK/bench/$m" ;; esac
  done
  for m in $MODELS; do
    b=bench-$m${TAG:-}
    [ -e "$R/$b.json" ] && continue
    wait_for "$WORK/bench/$m/.ready" "${WAIT_S:-400}" || { tail -3 "$WORK/logs/export-$m.log"; continue; }
    contexts=$CONTEXTS
    case " $LONG_MODELS " in *" $m "*) contexts="$CONTEXTS${LONG:+,$LONG}" ;; esac
    # PCIe traffic (MB/s each way, one reading a second) while this model runs.
    nvidia-smi dmon -s t -d 1 > "$R/pcie-$m${TAG:-}.txt" 2>&1 &
    dmon=$!
    # shellcheck disable=SC2086 # BENCH_ARGS is a list of flags
    deno_run scripts/bench.ts --model "$WORK/bench/$m" --device cuda --contexts "$contexts" ${BENCH_ARGS:-} \
      --db "$R/bench.duckdb" --json "$R/$b.json" > "$R/$b.txt" 2> "$R/$b.err"
    echo "bench $m${TAG:-} exit $?"
    kill "$dmon" 2>/dev/null
    tail -4 "$R/$b.err"; cat "$R/$b.txt"
  done
  ;;
kernels)
  for m in $MODELS; do
    wait_for "$WORK/bench/$m/.ready" "${WAIT_S:-400}" || continue
    ORT_ENABLE_ATTENTION_KERNEL_DEBUG_INFO=1 deno_run scripts/bench.ts --model "$WORK/bench/$m" --device cuda \
      --contexts "${KERNEL_CONTEXT:-4096}" --decode 8 --batches 1 --mc 8 --db "$R/kernels.duckdb" \
      > "$R/kernels-$m.log" 2>&1
    echo "bench (kernel log) $m exit $?"
    # One line per kernel choice and how often it was made.
    grep -iE "kernel|attention" "$R/kernels-$m.log" | grep -v '^{' | sed -E 's/[0-9]+/N/g' | sort | uniq -c |
      sort -rn | head -20 | tee "$R/kernels-$m.txt"
  done
  cp "$R"/kernels-*.txt "$OUT/" 2>/dev/null
  ;;
e2e)
  m=${E2E_MODEL:-llama3.2-1b-gqa-static}
  # The machine has no essays or word list to download: Python's own sources stand in for the
  # haystack, and their short words for the word tasks (the random-weight models score 0 anyway).
  hay=$WORK/haystack; words=$WORK/words.txt
  mkdir -p "$hay"; i=0
  for f in $(ls /usr/lib/python3*/[a-m]*.py | head -40); do i=$((i+1)); cp "$f" "$hay/$(printf %03d $i).txt"; done
  grep -ohE '\b[a-z]{3,5}\b' /usr/lib/python3*/*.py | sort -u | head -3000 > "$words"
  rm -f "$R/e2e.duckdb"
  start=$(date +%s)
  deno_run scripts/eval.ts --model "$WORK/bench/$m" --device cuda --tasks "$RULER" --lengths 4096,16384 \
    --haystack-dir "$hay" --words-file "$words" \
    --limit "${E2E_LIMIT:-2}" --db "$R/e2e.duckdb" --no-report > "$R/e2e-$m.txt" 2> "$R/e2e-$m.err"
  echo "eval exit $? in $(( $(date +%s) - start )) s" | tee -a "$R/e2e-$m.txt"
  tail -5 "$R/e2e-$m.err"
  deno_run scripts/report.ts --db "$R/e2e.duckdb" --format markdown >> "$R/e2e-$m.txt" 2>&1
  # Tokens, model seconds and forward calls per task: what a comparison with HF's time needs.
  deno_run scripts/gpu/perf_rows.ts "$R/e2e.duckdb" | tee -a "$R/e2e-$m.txt"
  # HF sdpa (lm-eval's hf default, batch 1) generating the same token shapes.
  deno_run scripts/gpu/ruler_shapes.ts "$R/e2e.duckdb" "$WORK/bench/$m" "$R/e2e-shapes.json" | tee -a "$R/e2e-$m.txt"
  python3 scripts/bench_torch.py --device cuda --attn sdpa --contexts '' --mc 0 --shapes "$R/e2e-shapes.json" \
    --json "$R/torch-e2e-sdpa.json" 2>&1 | grep -E "generate" | tee -a "$R/e2e-$m.txt"
  cp "$R/e2e-$m.txt" "$R/e2e-shapes.json" "$R/torch-e2e-sdpa.json" "$OUT/" 2>/dev/null
  ;;
score)
  m=${SCORE_MODEL:-llama3.2-1b-gqa-static}
  wait_for "$WORK/bench/$m/.ready" "${WAIT_S:-400}" || exit 1
  # Every way on the same mix, log-probs against whole rows, and where a warm round's time goes.
  deno_run scripts/gpu/score_check.ts "$WORK/bench/$m" --rounds "${SCORE_ROUNDS:-2}" 2>&1 | tee "$R/score-check.txt"
  # bench and HF sdpa each: a first pass over a mix of its own, then the timed mix of new shapes.
  for run in 1 2; do
    deno_run scripts/bench.ts --model "$WORK/bench/$m" --device cuda --contexts 4096 --decode 4 --batches 1 --mc 64 \
      --db "$R/bench.duckdb" --json "$R/bench-score-mc64-$run.json" 2>>"$R/bench-stderr.txt" | grep score-mc | tee -a "$R/score-check.txt"
    python3 scripts/bench_torch.py --device cuda --attn sdpa --contexts '' --mc 64 --json "$R/torch-score-mc64-$run.json" \
      2>&1 | grep -E "score-mc" | tee -a "$R/score-check.txt"
  done
  cp "$R/score-check.txt" "$R/bench-stderr.txt" "$R"/torch-score-*.json "$R"/bench-score-mc*.json "$R/bench.duckdb" "$OUT/" 2>/dev/null
  ;;
shapes)
  m=${SCORE_MODEL:-llama3.2-1b-gqa-static}
  wait_for "$WORK/bench/$m/.ready" "${WAIT_S:-400}" || exit 1
  mc=${MC_LONG:-256}
  deno_run scripts/bench.ts --model "$WORK/bench/$m" --device cuda --contexts 4096 --decode 4 --batches 1 --mc "$mc" \
    --db "$R/bench.duckdb" --json "$R/bench-score-mc$mc.json" 2>>"$R/bench-stderr.txt" | grep score-mc | tee -a "$R/shapes.txt"
  python3 scripts/bench_torch.py --device cuda --attn sdpa --contexts '' --mc "$mc" --json "$R/torch-score-mc$mc.json" \
    2>&1 | grep -E "score-mc" | tee -a "$R/shapes.txt"
  echo "KVBENCH_ORT_MEM_PATTERN=0" | tee -a "$R/shapes.txt"
  KVBENCH_ORT_MEM_PATTERN=0 deno_run scripts/bench.ts --model "$WORK/bench/$m" --device cuda --contexts 4096 --decode 4 \
    --batches 1 --mc 64 --json "$R/bench-score-mc64-nopattern.json" 2>>"$R/bench-stderr.txt" | grep score-mc | tee -a "$R/shapes.txt"
  # ONNX Runtime's own profile of both passes: each run's time and its kernels', first pass against the next.
  rm -rf "$R/profile"; mkdir -p "$R/profile"
  KVBENCH_ORT_PROFILE="$R/profile" deno_run scripts/bench.ts --model "$WORK/bench/$m" --device cuda --contexts 256 \
    --decode 1 --batches 1 --mc 64 --json "$R/bench-score-mc64-profiled.json" 2>>"$R/bench-stderr.txt" | grep score-mc | tee -a "$R/shapes.txt"
  tar -C "$R" -czf "$OUT/profile.tgz" profile
  cp "$R/shapes.txt" "$R/bench-stderr.txt" "$R"/torch-score-*.json "$R"/bench-score-mc*.json "$R/bench.duckdb" "$OUT/" 2>/dev/null
  ;;
collect)
  tar -C "$WORK" -czf "$OUT/logs.tgz" logs
  tar -C "$R" -czf "$OUT/results.tgz" .
  ls -la "$OUT"
  ;;
*) echo "unknown phase $PHASE"; exit 2 ;;
esac
