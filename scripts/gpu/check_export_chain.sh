#!/usr/bin/env bash
# GPU machine (or any): runs the export chain of scripts/gpu/background.sh on a tiny model whose
# weights are forced into an external data file, as the full-size exports' are, so a failure of
# the machine's onnx/torch versions shows in seconds, with its traceback, rather than after the
# full-size exports. Usage: bash scripts/gpu/check_export_chain.sh [DIR]
set -euo pipefail
D=${1:-/tmp/kvbench-chain}
rm -rf "$D"; mkdir -p "$D"
python3 - "$D" <<'PY'
import sys
from pathlib import Path
sys.path.insert(0, "scripts")
import families.export as export
import export_paper_shapes as shapes
convert = export.weights_to_float16
export.weights_to_float16 = lambda src, dst, external_above=0: convert(src, dst, 0)
for name in ("llama3.2-1b-gqa", "xecomla-1b-r128"):
    shapes.export(name, Path(sys.argv[1]) / name, shapes.Base.make(8), "float16", 1)
PY
python3 scripts/export_fp16_matmul.py --model "$D/llama3.2-1b-gqa" --out "$D/llama-copy"
python3 scripts/export_decode_loop.py --model "$D/llama-copy" --prefill --score
python3 scripts/export_fp16_matmul.py --model "$D/xecomla-1b-r128" --in-place
python3 scripts/export_decode_loop.py --model "$D/xecomla-1b-r128" --prefill --score
echo "export chain ok: $(python3 -c 'import onnx, torch; print("onnx", onnx.__version__, "torch", torch.__version__)')"
