#!/usr/bin/env bash
# On the GPU machine, once Deno, node_modules and the CUDA provider are unpacked under /opt/kvstage:
#   1. trains the MQAR zoo in the background (it outlives a call; see scripts/train_zoo.py),
#   2. checks --device cuda against the PyTorch references of every family fixture,
#   3. waits for the zoo (up to WAIT seconds) and copies what is done to $OUT.
# Run it again to collect a zoo that was still training.
set -uo pipefail
source /opt/kvstage/env.sh
OUT=${OUT:-/tmp/out}
WAIT=${WAIT:-420}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt" 2>&1
python3 -c "import torch, onnx; print('torch', torch.__version__, 'onnx', onnx.__version__)" >> "$OUT/gpu.txt" 2>&1
if [ ! -e /tmp/zoo.started ]; then
  touch /tmp/zoo.started
  PYTHONUNBUFFERED=1 setsid nohup python3 scripts/train_zoo.py --out /tmp/zoo > /tmp/zoo.log 2>&1 < /dev/null &
fi
deno task parity --device cuda > "$OUT/parity.txt" 2>&1
echo "parity exit $?" >> "$OUT/parity.txt"
for _ in $(seq 1 $((WAIT / 5))); do
  [ -f /tmp/zoo/dma/TRAINING.json ] && break
  grep -q Traceback /tmp/zoo.log && break
  sleep 5
done
cp /tmp/zoo.log "$OUT/zoo.log"
for d in /tmp/zoo/*/; do
  [ -f "$d/TRAINING.json" ] && tar -C /tmp/zoo -cf "$OUT/zoo-$(basename "$d").tar" "$(basename "$d")"
done
tail -5 "$OUT/parity.txt"; grep -v "^  step" /tmp/zoo.log | grep -v -i warn | tail -8
